"""Channel-bound tokens (a CONNECTOR, a STOREFRONT made with `--channel`) against every query,
mutation and subscription that names a channel, by id and by code: naming another channel is
FORBIDDEN (a GraphQL error for queries and subscriptions, a UserError in a mutation's payload)
and changes nothing; naming its own works where the role may do the operation at all.

The table is checked against the schema: an operation that takes a channel cannot be added
without a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.schema import build_schema
from onhand.auth.roles import GRANTS, Permission, Role
from support import factories
from support.channels import channel, reserve
from support.client import Client
from support.ws import Subscriber

OWN = {Role.CONNECTOR: "AMAZON", Role.STOREFRONT: "WEBSITE"}
OTHER = {Role.CONNECTOR: "WEBSITE", Role.STOREFRONT: "AMAZON"}
# What a refused call must leave as it was (of the sync state, what a pull or an
# acknowledgement writes: the scheduler updates the rest in the background).
STATE = {
    "reservations": "t::text",
    "inventory_movements": "t::text",
    "channel_inventory": "t::text",
    "channel_sync": "(t.channel_id, t.handed_out_sequence, t.acknowledged_sequence,"
    " t.last_pull_at)::text",
    "channels": "t::text",
    "webhooks": "t::text",
}
ERRORS = "errors { code }"


@dataclass(frozen=True)
class Named:
    """A channel as an operation names it: by global id or by code."""

    id: str
    code: str
    form: str  # "id" or "code"
    cursor: str  # a feed cursor handed out for this channel

    def args(self, id_name: str = "channelId", code_name: str = "channelCode") -> dict[str, Any]:
        return {id_name: self.id} if self.form == "id" else {code_name: self.code}


@dataclass(frozen=True)
class Use:
    """One operation that names a channel."""

    field: str
    kind: str  # query, mutation or subscription
    permission: Permission
    document: str
    variables: Callable[[Named], dict[str, Any]]
    forms: tuple[str, ...] = ("id", "code")
    # Only the channel's connector acknowledges its sync (a bound storefront only reads it).
    roles: frozenset[Role] = frozenset({Role.CONNECTOR, Role.STOREFRONT})
    name: str = ""

    @property
    def id(self) -> str:
        return self.name or self.field

    def may(self, role: Role) -> bool:
        return role in self.roles and self.permission in GRANTS[role]


def query(field: str, arguments: str, selection: str) -> str:
    return (
        f"query($channelId: ID, $channelCode: String) {{ {field}({arguments}) {{ {selection} }} }}"
    )


def mutation(field: str, input_type: str, selection: str) -> str:
    return (
        f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ {selection} {ERRORS} }} }}"
    )


BY_ARGUMENTS = "channelId: $channelId, channelCode: $channelCode"
LINE = {"sku": "SKU-1", "quantity": 1}
A_WEBHOOK = "V2ViaG9vazox"  # Webhook:1

USES: tuple[Use, ...] = (
    Use(
        "channel",
        "query",
        Permission.READ_CHANNEL,
        query("channel", "id: $channelId, code: $channelCode", "code warehouses { code }"),
        lambda c: c.args(),
    ),
    Use(
        "node",
        "query",
        Permission.READ_CHANNEL,
        "query($channelId: ID!) { node(id: $channelId) { id } }",
        lambda c: c.args(),
        forms=("id",),
    ),
    Use(
        "channelInventory",
        "query",
        Permission.READ_CHANNEL,
        query("channelInventory", f'{BY_ARGUMENTS}, skus: ["SKU-1"]', "availableToSell"),
        lambda c: c.args(),
    ),
    Use(
        "channelFeed",
        "query",
        Permission.READ_CHANNEL,
        query("channelFeed", BY_ARGUMENTS, "cursor items { sku }"),
        lambda c: c.args(),
    ),
    Use(
        "channelSyncStatus",
        "query",
        Permission.READ_CHANNEL,
        query("channelSyncStatus", BY_ARGUMENTS, "stalled"),
        lambda c: c.args(),
    ),
    Use(
        "reservations",
        "query",
        Permission.RESERVE_STOCK,
        "query($filter: ReservationFilterInput) { reservations(filter: $filter) { totalCount } }",
        lambda c: {"filter": c.args()},
    ),
    Use(
        "fulfillmentPlan",
        "query",
        Permission.READ_STOCK,
        "query($input: FulfillmentPlanInput!) { fulfillmentPlan(input: $input) { __typename } }",
        lambda c: {"input": {"lines": [LINE], **c.args()}},
    ),
    Use(
        "alerts",
        "query",
        Permission.READ_STOCK,
        "query($filter: AlertFilterInput) { alerts(filter: $filter) { totalCount } }",
        lambda c: {"filter": c.args()},
        forms=("id",),
    ),
    Use(
        "createReservation",
        "mutation",
        Permission.RESERVE_STOCK,
        mutation("createReservation", "CreateReservationInput", "reservation { id }"),
        lambda c: {"input": {**LINE, **c.args()}},
    ),
    Use(
        "reserveCart",
        "mutation",
        Permission.RESERVE_STOCK,
        mutation("reserveCart", "ReserveCartInput", "success"),
        lambda c: {"input": {"lines": [LINE], **c.args()}},
    ),
    Use(
        "acknowledgeChannelSync",
        "mutation",
        Permission.READ_CHANNEL,
        mutation("acknowledgeChannelSync", "AcknowledgeChannelSyncInput", "status { stalled }"),
        lambda c: {"input": {**c.args(), "cursor": c.cursor}},
        roles=frozenset({Role.CONNECTOR}),
    ),
    Use(
        "adjustInventory",
        "mutation",
        Permission.MANAGE_STOCK,
        mutation("adjustInventory", "AdjustInventoryInput", "inventoryLevel { onHand }"),
        lambda c: {
            "input": {
                "sku": "SKU-1",
                "warehouseCode": "DC-1",
                "adjustment": -1,
                "reason": "SALE",
                **c.args(),
            }
        },
    ),
    Use(
        "setChannelInventory",
        "mutation",
        Permission.MANAGE_ALLOCATIONS,
        mutation("setChannelInventory", "SetChannelInventoryInput", "channelInventory { version }"),
        lambda c: {"input": {"sku": "SKU-1", "allocatedQuantity": 5, **c.args()}},
    ),
    Use(
        "setChannelDemandBuffer",
        "mutation",
        Permission.MANAGE_ALLOCATIONS,
        mutation("setChannelDemandBuffer", "SetChannelDemandBufferInput", "policy { version }"),
        lambda c: {"input": {"lookbackDays": 7, **c.args()}},
    ),
    Use(
        "recomputeDemandBuffers",
        "mutation",
        Permission.MANAGE_ALLOCATIONS,
        mutation("recomputeDemandBuffers", "RecomputeDemandBuffersInput", "productCount"),
        lambda c: {"input": c.args()},
    ),
    Use(
        "channelDemandBuffers",
        "query",
        Permission.READ_CHANNEL,
        query("channelDemandBuffers", BY_ARGUMENTS, "channel { code } policy { version }"),
        lambda c: c.args(),
    ),
    Use(
        "allocateInventoryToChannels",
        "mutation",
        Permission.MANAGE_ALLOCATIONS,
        mutation(
            "allocateInventoryToChannels",
            "AllocateInventoryToChannelsInput",
            "allocations { availableToSell }",
        ),
        lambda c: {"input": {"skus": ["SKU-1"], **c.args("channelIds", "channelCodes")}},
        name="allocateInventoryToChannels-channels",
    ),
    Use(
        "allocateInventoryToChannels",
        "mutation",
        Permission.MANAGE_ALLOCATIONS,
        mutation(
            "allocateInventoryToChannels",
            "AllocateInventoryToChannelsInput",
            "allocations { availableToSell }",
        ),
        lambda c: {
            "input": {
                "skus": ["SKU-1"],
                "strategy": "CUSTOM",
                "custom": [{"quantity": 3, **c.args()}],
            }
        },
        name="allocateInventoryToChannels-custom",
    ),
    Use(
        "updateChannel",
        "mutation",
        Permission.MANAGE_CHANNELS,
        mutation("updateChannel", "UpdateChannelInput", "channel { id }"),
        lambda c: {"input": {"id": c.id, "name": "Renamed"}},
        forms=("id",),
    ),
    Use(
        "createWebhook",
        "mutation",
        Permission.MANAGE_WEBHOOKS,
        mutation("createWebhook", "CreateWebhookInput", "webhook { id }"),
        lambda c: {
            "input": {
                "url": "http://127.0.0.1:9/hook",
                "events": ["INVENTORY_UPDATED"],
                **c.args(),
            }
        },
        forms=("id",),
    ),
    Use(
        "updateWebhook",
        "mutation",
        Permission.MANAGE_WEBHOOKS,
        mutation("updateWebhook", "UpdateWebhookInput", "webhook { id }"),
        lambda c: {"input": {"id": A_WEBHOOK, **c.args()}},
        forms=("id",),
    ),
    Use(
        "inventoryUpdated",
        "subscription",
        Permission.READ_STOCK,
        "subscription($channelId: ID, $channelCode: String) {"
        f" inventoryUpdated({BY_ARGUMENTS}) {{ sequence warehouse {{ code }} }} }}",
        lambda c: c.args(),
    ),
    Use(
        "reservationChanged",
        "subscription",
        Permission.RESERVE_STOCK,
        "subscription($channelId: ID, $channelCode: String) {"
        f" reservationChanged({BY_ARGUMENTS}) {{ kind channel {{ code }} }} }}",
        lambda c: c.args(),
    ),
    Use(
        "channelAvailabilityChanged",
        "subscription",
        Permission.READ_CHANNEL,
        "subscription($channelId: ID, $channelCode: String) {"
        f" channelAvailabilityChanged({BY_ARGUMENTS}) {{ sku channel {{ code }} }} }}",
        lambda c: c.args(),
    ),
)


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _names_a_channel(arguments: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    for name, argument in arguments.items():
        if "channel" in name.lower():
            return True
        type_ = _named(argument.type)
        nested = isinstance(type_, GraphQLInputObjectType) and type_.name not in seen
        if nested and _names_a_channel(type_.fields, seen | {type_.name}):
            return True
    return False


def test_the_table_covers_every_operation_that_names_a_channel() -> None:
    schema = build_schema()._schema
    roots = (schema.query_type, schema.mutation_type, schema.subscription_type)
    naming = {
        name
        for root in roots
        for name, field in root.fields.items()
        if _names_a_channel(field.args)
    }
    # Named by a plain id: one channel, any node, a channel's edit.
    naming |= {"channel", "node", "updateChannel"}
    listed = {use.field for use in USES}
    assert naming <= listed, sorted(naming - listed)
    assert len({use.id for use in USES}) == len(USES)


async def world(admin: Client) -> dict[str, Named]:
    """SKU-1 at DC-1, sold by WEBSITE (a storefront) and AMAZON (a marketplace); each channel
    named both ways, with a cursor its feed handed out."""
    await factories.stocked(admin, "SKU-1", {"DC-1": 20})
    made: dict[str, Named] = {}
    for code, kind in (("WEBSITE", "REALTIME"), ("AMAZON", "BATCH")):
        found = await channel(admin, code, ["DC-1"], kind=kind, safetyBufferPercent=0)
        feed = await admin(
            "query($c: String) { channelFeed(channelCode: $c) { cursor } }", {"c": code}
        )
        cursor = feed["channelFeed"]["cursor"]
        for form in ("id", "code"):
            made[f"{code}-{form}"] = Named(found["id"], code, form, cursor)
    return made


async def fingerprint(engine: AsyncEngine) -> dict[str, str]:
    digests = {}
    async with engine.connect() as conn:
        for table, row in STATE.items():
            digest = f"md5(coalesce(string_agg({row}, '|' ORDER BY {row}), ''))"
            found = await conn.execute(text(f"SELECT {digest} FROM {table} t"))
            digests[table] = found.scalar_one()
    return digests


def codes_of(errors: list[dict[str, Any]] | None) -> list[str]:
    return [(e.get("extensions") or {}).get("code") or e.get("code") for e in errors or []]


async def refusal(use: Use, client: Client, base_url: str, named: Named) -> list[str]:
    """The error codes of a call that the server answers at once (no event is awaited)."""
    variables = use.variables(named)
    if use.kind == "subscription":
        async with Subscriber(base_url, client.token) as subscriber:
            await subscriber.send(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": use.document, "variables": variables},
                }
            )
            message = await subscriber.receive(seconds=30)
        assert message["type"] in ("next", "error"), message
        payload = message["payload"]
        return codes_of(payload if isinstance(payload, list) else payload.get("errors"))
    body = await client.raw(use.document, variables)
    if use.kind == "mutation":
        assert not body.get("errors"), body
        return codes_of(body["data"][use.field]["errors"])
    if body.get("errors"):
        assert body["data"] is None or body["data"][use.field] is None, body
    return codes_of(body.get("errors"))


async def works(
    use: Use, client: Client, admin: Client, base_url: str, named: Named
) -> dict[str, Any]:
    """Call on the caller's own channel; a subscription must deliver an event of it."""
    variables = use.variables(named)
    if use.kind != "subscription":
        body = await client.raw(use.document, variables)
        assert not body.get("errors"), body
        result: dict[str, Any] = body["data"][use.field]
        assert result is not None
        if use.kind == "mutation":
            assert result["errors"] == [], result
        return result
    async with Subscriber(base_url, client.token) as subscriber:
        await subscriber.subscribe(use.document, variables)
        # A hold on the channel: its warehouse's stock, its reservations and its ATS change.
        made = await reserve(admin, sku="SKU-1", quantity=1, channelCode=named.code)
        assert made["errors"] == [], made
        # Generous: the event goes through the outbox and the relay, on a busy machine too.
        message = await subscriber.next(seconds=30)
    assert not message.get("errors"), message
    event: dict[str, Any] = message["data"][use.field]
    return event


def cases() -> list[Any]:
    return [
        pytest.param(use, role, form, id=f"{use.id}-{role.lower()}-by-{form}")
        for use in USES
        for role in OWN
        for form in use.forms
    ]


@pytest.mark.parametrize(("use", "role", "form"), cases())
async def test_a_bound_token_names_only_its_own_channel(
    use: Use,
    role: Role,
    form: str,
    admin: Client,
    bound: Any,
    base_url: str,
    engine: AsyncEngine,
) -> None:
    channels = await world(admin)
    client: Client = await bound(role, OWN[role])
    other, own = channels[f"{OTHER[role]}-{form}"], channels[f"{OWN[role]}-{form}"]

    before = await fingerprint(engine)
    assert await refusal(use, client, base_url, other) == ["FORBIDDEN"]
    assert await fingerprint(engine) == before, "a refused call changed something"

    if not use.may(role):
        assert await refusal(use, client, base_url, own) == ["FORBIDDEN"]
        return
    result = await works(use, client, admin, base_url, own)
    if use.field in ("channel", "reservationChanged", "channelAvailabilityChanged"):
        found = result.get("code") or result["channel"]["code"]
        assert found == OWN[role]
    if use.field == "channel":
        assert result["warehouses"] == [{"code": "DC-1"}]


async def test_a_connector_cannot_reserve_on_another_channel_by_its_code(
    admin: Client, connector: Any, engine: AsyncEngine
) -> None:
    """The hole as it was found: by id it was refused, by code it reserved on WEBSITE."""
    await world(admin)
    amazon: Client = await connector("AMAZON")
    made = await reserve(amazon, sku="SKU-1", quantity=2, channelCode="WEBSITE")
    assert [e["code"] for e in made["errors"]] == ["FORBIDDEN"], made
    assert made["errors"][0]["field"] == "channelCode"
    cart = await amazon(
        'mutation { reserveCart(input: {channelCode: "WEBSITE", lines: [{sku: "SKU-1",'
        " quantity: 2}]}) { success reservations { id } errors { field code } } }"
    )
    assert cart["reserveCart"]["success"] is False
    assert cart["reserveCart"]["errors"] == [{"field": "channelCode", "code": "FORBIDDEN"}]
    async with engine.connect() as conn:
        held = (await conn.execute(text("SELECT count(*) FROM reservations"))).scalar_one()
    assert held == 0


async def test_a_bound_token_cannot_name_a_channel_that_does_not_exist(
    admin: Client, bound: Any
) -> None:
    """Whether a code exists is not a bound token's business: it is simply not its own."""
    await world(admin)
    amazon: Client = await bound(Role.CONNECTOR, "AMAZON")
    made = await reserve(amazon, sku="SKU-1", quantity=1, channelCode="NOPE")
    assert [e["code"] for e in made["errors"]] == ["FORBIDDEN"], made
    # An unbound token is told the channel does not exist.
    unbound = await reserve(admin, sku="SKU-1", quantity=1, channelCode="NOPE")
    assert [e["code"] for e in unbound["errors"]] == ["NOT_FOUND"], unbound
