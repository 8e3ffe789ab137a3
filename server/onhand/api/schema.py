"""The GraphQL schema: every domain's queries and mutations, with the query-safety limits."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry import relay
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from onhand.api.alerts.mutations import AlertMutation
from onhand.api.alerts.queries import AlertQuery
from onhand.api.alerts.subscriptions import AlertSubscription
from onhand.api.channels.allocations import AllocationMutation
from onhand.api.channels.demand_buffers import ChannelDemandBufferMutation, ChannelDemandBufferQuery
from onhand.api.channels.feed import ChannelFeedMutation, ChannelFeedQuery, ChannelFeedSubscription
from onhand.api.channels.mutations import ChannelMutation
from onhand.api.channels.purchase_limits import PurchaseLimitMutation, PurchaseLimitQuery
from onhand.api.channels.queries import ChannelQuery
from onhand.api.channels.sales import ChannelSalesQuery
from onhand.api.context import Info
from onhand.api.cost.extension import CostRules, QueryCost
from onhand.api.cost.plan import Planner, Sizes
from onhand.api.counts.mutations import CountMutation
from onhand.api.counts.queries import CountQuery
from onhand.api.document_limits import Limits, bound_field_merging, document_limits_rule
from onhand.api.events.reservation_events import ReservationSubscription
from onhand.api.events.scalars import SCALARS
from onhand.api.events.shortfall_events import Shortfall
from onhand.api.events.subscriptions import EventQuery, EventSubscription
from onhand.api.events.types import EVENT_TYPES, OtherEvent
from onhand.api.extensions import (
    DomainErrorCodes,
    MaskUnexpectedErrors,
    Metrics,
    OperationNameRequired,
    ReadsOnReplica,
)
from onhand.api.imports.mutations import ImportMutation
from onhand.api.imports.queries import ImportQuery
from onhand.api.imports.subscriptions import ImportSubscription
from onhand.api.input_plans import plan_inputs
from onhand.api.inventory.audit import InventoryAuditMutation
from onhand.api.inventory.mutations import InventoryMutation
from onhand.api.inventory.queries import InventoryQuery
from onhand.api.kits.mutations import KitMutation
from onhand.api.pickup.queries import PickupQuery
from onhand.api.preorders.mutations import PreorderMutation
from onhand.api.preorders.queries import PreorderQuery
from onhand.api.products.mutations import ProductMutation
from onhand.api.products.queries import ProductQuery
from onhand.api.reservations.mutations import ReservationMutation
from onhand.api.reservations.queries import ReservationQuery
from onhand.api.source_events.mutations import SourceEventMutation
from onhand.api.source_events.queries import SourceEventQuery
from onhand.api.transfers.mutations import TransferDiscrepancyMutation, TransferOrderMutation
from onhand.api.transfers.queries import TransferQuery
from onhand.api.validation_cache import DocumentValidationCache, LimitedParserCache
from onhand.api.warehouses.mutations import WarehouseMutation
from onhand.api.warehouses.queries import WarehouseQuery
from onhand.api.webhooks.mutations import WebhookMutation
from onhand.api.webhooks.queries import WebhookQuery
from onhand.auth.cost_buckets import CostLimits
from onhand.auth.roles import GRANTS, Permission, Role
from onhand.config import Settings


@strawberry.type(description="The caller, as its API token names it.")
class Viewer:
    name: str
    role: strawberry.enum(Role, name="Role")  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    permissions: list[strawberry.enum(Permission, name="Permission")] = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        description="What this token's role may do (a client shows only what it offers)."
    )


def node_query() -> type:
    """The node and viewer fields. Made afresh for every schema: strawberry's relay.node()
    field can be turned into a resolver only once."""

    @strawberry.type
    class NodeQuery:
        node: relay.Node | None = relay.node(description="Any object by its global id.")

        @strawberry.field(description="The API token making this request.")
        def viewer(self, info: Info) -> Viewer:
            principal = info.context.principal
            assert principal is not None  # the view refuses unauthenticated requests
            granted = sorted(GRANTS[principal.role])
            return Viewer(name=principal.name, role=principal.role, permissions=granted)

    return NodeQuery


QUERIES: tuple[type, ...] = (
    WarehouseQuery,
    ProductQuery,
    InventoryQuery,
    ChannelQuery,
    ChannelSalesQuery,
    ChannelFeedQuery,
    ChannelDemandBufferQuery,
    ReservationQuery,
    PickupQuery,
    EventQuery,
    WebhookQuery,
    ImportQuery,
    SourceEventQuery,
    AlertQuery,
    TransferQuery,
    CountQuery,
    PurchaseLimitQuery,
    PreorderQuery,
)
MUTATIONS: tuple[type, ...] = (
    WarehouseMutation,
    ProductMutation,
    KitMutation,
    InventoryMutation,
    InventoryAuditMutation,
    ChannelMutation,
    AllocationMutation,
    ChannelDemandBufferMutation,
    ChannelFeedMutation,
    ReservationMutation,
    WebhookMutation,
    ImportMutation,
    SourceEventMutation,
    AlertMutation,
    TransferOrderMutation,
    CountMutation,
    TransferDiscrepancyMutation,
    PurchaseLimitMutation,
    PreorderMutation,
)
SUBSCRIPTIONS: tuple[type, ...] = (
    EventSubscription,
    ReservationSubscription,
    ImportSubscription,
    ChannelFeedSubscription,
    AlertSubscription,
)


class Schema(strawberry.Schema):
    # Set by build_schema: the WebSocket endpoint validates subscriptions with the document
    # rules, then charges them by the cost rules.
    cost_rules: CostRules | None = None
    document_rules: tuple[type[ASTValidationRule], ...] = ()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here. strawberry logs every error with the document around it: a bad
        document is the client's business (and may carry a secret written inline), a coded
        domain error is an answer. Unexpected errors are logged once, with their traceback
        and path but not the document, by MaskUnexpectedErrors."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # The limits rule is built once: the validation cache is keyed by the rule classes, so a
    # rule made per request would never hit it.
    limits_rule = document_limits_rule(
        Limits(
            depth=settings.max_query_depth,
            aliases=settings.max_aliases,
            selections=settings.max_selections,
            fragments=settings.max_fragments,
        )
    )
    rules: tuple[type[ASTValidationRule], ...] = (limits_rule,)
    if not settings.expose_schema:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    bound_field_merging()
    # Like the parser's cache: one planner for the schema's life, each document planned once.
    cost_rules = CostRules(
        planner=Planner(
            Sizes(default=settings.default_page_size, maximum=settings.max_page_size),
            mutation_cost=settings.mutation_cost,
            size=1024,
        ),
        limits=CostLimits(settings),
        enabled=settings.cost_limit,
    )
    query = merge_types("Query", (node_query(), *QUERIES))
    mutation = merge_types("Mutation", MUTATIONS)
    subscription = merge_types("Subscription", SUBSCRIPTIONS) if SUBSCRIPTIONS else None
    schema = Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        # Every possible event type, so that inventoryChanges can return any of them.
        types=[*EVENT_TYPES.values(), OtherEvent, Shortfall],
        # Factories: strawberry builds fresh extensions per request; the parser and
        # validation caches live at module level and are shared all the same.
        extensions=[
            lambda: LimitedParserCache(max_tokens=settings.max_query_tokens, maxsize=1024),
            lambda: DocumentValidationCache(rules, maxsize=1024),
            OperationNameRequired,
            ReadsOnReplica,
            lambda: QueryCost(rules=cost_rules),
            DomainErrorCodes,
            MaskUnexpectedErrors,
            Metrics,
        ],
    )
    schema.cost_rules = cost_rules
    schema.document_rules = rules
    plan_inputs(schema)
    return schema


def print_sdl() -> str:
    return str(build_schema()).rstrip() + "\n"
