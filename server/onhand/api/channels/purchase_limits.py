"""Purchase limits: setPurchaseLimit and the purchaseLimits query."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError

from onhand.api.channels.access import channel_ref, required_channel_ref
from onhand.api.channels.types import Channel, load_channel, load_named_channel, product_ids_of
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import product_ref
from onhand.api.permissions import mutate, requires
from onhand.api.products.types import Product
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode
from onhand.inventory.channels import purchase_limits as domain

MAX_PRODUCTS = 250


@strawberry.type(
    description="The most units of a product one cart or order may hold on a channel: "
    "createReservation and reserveCart refuse more with PURCHASE_LIMIT_EXCEEDED."
)
class PurchaseLimit:
    max_quantity_per_reference: int = strawberry.field(
        description="Units one referenceId (a cart or an order) may hold, counting its active "
        "and fulfilled reservations of the product on the channel."
    )
    version: int = strawberry.field(description="Bumped on every change of the limit.")
    updated_at: datetime = strawberry.field(description="When the limit was last set.")
    channel_id: strawberry.Private[int]
    product_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, record: domain.PurchaseLimit) -> PurchaseLimit:
        return cls(
            max_quantity_per_reference=record.max_per_reference,
            version=record.version,
            updated_at=record.updated_at,
            channel_id=record.channel_id,
            product_id=record.product_id,
        )

    @strawberry.field(description="The channel the limit applies on.")
    async def channel(self, info: Info) -> Channel | None:
        record = await load_channel(info, self.channel_id)
        return Channel.from_record(record) if record else None

    @strawberry.field(description="The limited product.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)


@strawberry.input(description="Set, or clear with null, a product's purchase limit on a channel.")
class SetPurchaseLimitInput:
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The product, by global id (or give sku)."
    )
    sku: str | None = strawberry.field(default=None, description="The product, by SKU.")
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="The channel, by global id (or give channelCode)."
    )
    channel_code: str | None = strawberry.field(default=None, description="The channel, by code.")
    max_quantity_per_reference: int | None = strawberry.field(
        description="The most units one cart or order may hold; null removes the limit."
    )


@strawberry.type
class SetPurchaseLimitPayload:
    purchase_limit: PurchaseLimit | None = strawberry.field(
        default=None, description="The limit now; null when cleared (or refused)."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed."
    )


@strawberry.type
class PurchaseLimitMutation:
    @strawberry.mutation(
        description="Limit how many units of a product one cart or order may reserve on a "
        "channel (null clears it). Applies to reservations made after it returns."
    )
    async def set_purchase_limit(
        self, info: Info, input: SetPurchaseLimitInput
    ) -> SetPurchaseLimitPayload:
        async def work(context: Context) -> SetPurchaseLimitPayload:
            channel = channel_ref(context, input.channel_id, input.channel_code)
            if channel is None:
                raise DomainError.of(
                    ErrorCode.REQUIRED, "give channelId or channelCode", "channelId"
                )
            request = domain.SetPurchaseLimit(
                channel=channel,
                product=product_ref(input.product_id, input.sku),
                max_per_reference=input.max_quantity_per_reference,
            )
            _, _, record = await context.transaction(
                lambda conn: domain.set_purchase_limit(conn, request)
            )
            return SetPurchaseLimitPayload(
                purchase_limit=PurchaseLimit.from_record(record) if record else None
            )

        return await mutate(info, Permission.MANAGE_ALLOCATIONS, SetPurchaseLimitPayload, work)


@strawberry.type
class PurchaseLimitQuery:
    @strawberry.field(
        permission_classes=[requires(Permission.READ_CHANNEL)],
        description="The purchase limits a channel has on the given products (by ids and/or "
        "SKUs; products without one are left out). A bound token's own channel is the default.",
    )
    async def purchase_limits(
        self,
        info: Info,
        channel_id: strawberry.ID | None = None,
        channel_code: str | None = None,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
    ) -> list[PurchaseLimit]:
        ref = required_channel_ref(info.context, channel_id, channel_code)
        record = await load_named_channel(info, ref)
        if record is None:
            return []
        if len([*(product_ids or []), *(skus or [])]) > MAX_PRODUCTS:
            raise GraphQLError(
                f"at most {MAX_PRODUCTS} products at once",
                extensions={"code": "INVALID", "field": "productIds"},
            )
        found = [p for p in await product_ids_of(info, product_ids or [], skus or []) if p]
        async with info.context.services.engine.connect() as conn:
            limits = await domain.purchase_limits_of(conn, [record.id], found)
        return [
            PurchaseLimit.from_record(limits[(record.id, p)])
            for p in dict.fromkeys(found)
            if (record.id, p) in limits
        ]
