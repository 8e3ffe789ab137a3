"""Allocation mutations: setChannelInventory, allocateInventoryToChannels,
reallocateUnsoldInventory."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from onhand.api import ids
from onhand.api.channels.access import channel_ref, channel_refs, required_channel_ref
from onhand.api.channels.types import Channel, ChannelInventory, load_channel
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import product_ref
from onhand.api.permissions import mutate
from onhand.api.products.types import Product
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.inventory.channels import allocating, allocation, reallocation
from onhand.inventory.channels.strategies import DAYS_OF_SUPPLY, LOOKBACK_DAYS, Strategy

AllocationStrategyEnum = strawberry.enum(
    Strategy,
    name="AllocationStrategy",
    description="PROPORTIONAL: by each channel's sales over the lookback (equal with no "
    "history), 10% buffer. PRIORITY: by channel priority, each its days of supply, the rest "
    "to the first, 10% buffer. VELOCITY: fastest sellers first, each its days of supply, 15% "
    "buffer. EQUAL: equal split, 10% buffer. CUSTOM: the quantities given.",
)


@strawberry.input(description="Set (or clear, with null) a channel's allocation of a product.")
class SetChannelInventoryInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    variant_id: str | None = strawberry.field(
        default=None, description="The product's externalVariantId; must agree with it."
    )
    channel_id: strawberry.ID | None = None
    channel_code: str | None = None
    allocated_quantity: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="The most the channel may hold; null removes the allocation.",
    )
    buffer_quantity: int | None = strawberry.field(
        default=strawberry.UNSET, description="Kept back from sale; null: the default buffer."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (VERSION_CONFLICT) unless at this version (0: none)."
    )


@strawberry.input
class CustomAllocationInput:
    channel_id: strawberry.ID | None = None
    channel_code: str | None = None
    allocated_quantity: int | None = strawberry.field(
        default=None, description="The channel's allocation, as setChannelInventory names it."
    )
    quantity: int | None = strawberry.field(
        default=None, deprecation_reason="Use allocatedQuantity, as setChannelInventory does."
    )
    buffer_quantity: int = 0
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only for this product (default: every product given)."
    )
    sku: str | None = None


@strawberry.input
class AllocateInventoryToChannelsInput:
    product_ids: list[strawberry.ID] | None = None
    skus: list[str] | None = None
    strategy: AllocationStrategyEnum = Strategy.PROPORTIONAL  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    channel_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Default: every active channel."
    )
    channel_codes: list[str] | None = None
    total_quantity: int | None = strawberry.field(
        default=None,
        description="Units to share per product. Default: what the channels' warehouses have "
        "available plus what the channels already hold.",
    )
    custom: list[CustomAllocationInput] | None = None
    buffer_percent: float | None = strawberry.field(
        default=None, description="Overrides the strategy's buffer percent."
    )
    lookback_days: int = LOOKBACK_DAYS
    days_of_supply: int = DAYS_OF_SUPPLY


@strawberry.input
class ReallocateUnsoldInventoryInput:
    threshold_days: int = strawberry.field(
        default=30, description="Allocations unsold for this long are moved."
    )
    product_ids: list[strawberry.ID] | None = None
    skus: list[str] | None = None
    lookback_days: int = LOOKBACK_DAYS
    days_of_supply: int = DAYS_OF_SUPPLY


@strawberry.type
class SetChannelInventoryPayload:
    channel_inventory: ChannelInventory | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AllocateInventoryToChannelsPayload:
    allocations: list[ChannelInventory] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Allocation moved from a channel where it sat unsold.")
class AllocationMove:
    product_id: strawberry.Private[int]
    from_channel_id: strawberry.Private[int]
    to_channel_id: strawberry.Private[int]
    quantity: int

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field
    async def from_channel(self, info: Info) -> Channel | None:
        record = await load_channel(info, self.from_channel_id)
        return Channel.from_record(record) if record else None

    @strawberry.field
    async def to_channel(self, info: Info) -> Channel | None:
        record = await load_channel(info, self.to_channel_id)
        return Channel.from_record(record) if record else None


@strawberry.type
class ReallocateUnsoldInventoryPayload:
    moves: list[AllocationMove] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


def product_refs(product_ids: Sequence[str] | None, skus: Sequence[str] | None) -> list[Ref]:
    refs = [
        Ref(id=ids.decode(p, "Product", f"productIds.{i}"), field=f"productIds.{i}")
        for i, p in enumerate(product_ids or [])
    ]
    return refs + [Ref(key=s, field=f"skus.{i}") for i, s in enumerate(skus or [])]


def _custom(
    context: Context, shares: Sequence[CustomAllocationInput]
) -> list[allocating.CustomShare]:
    result = []
    for i, share in enumerate(shares):
        ref = channel_ref(
            context,
            share.channel_id,
            share.channel_code,
            f"custom.{i}.channelId",
            f"custom.{i}.channelCode",
        )
        if ref is None:
            raise DomainError.of(
                ErrorCode.REQUIRED, "give channelId or channelCode", f"custom.{i}.channelId"
            )
        product = None
        if share.product_id is not None or share.sku is not None:
            product = product_ref(share.product_id, share.sku, f"custom.{i}.productId")
        given = [q for q in (share.allocated_quantity, share.quantity) if q is not None]
        if len(given) != 1:
            raise DomainError.of(
                ErrorCode.REQUIRED if not given else ErrorCode.INVALID,
                "give allocatedQuantity (quantity is its old name), once",
                f"custom.{i}.allocatedQuantity",
            )
        result.append(allocating.CustomShare(ref, given[0], share.buffer_quantity, product))
    return result


@strawberry.type
class AllocationMutation:
    @strawberry.mutation(description="Set a channel's allocation and buffer of one product.")
    async def set_channel_inventory(
        self, info: Info, input: SetChannelInventoryInput
    ) -> SetChannelInventoryPayload:
        async def work(context: Context) -> SetChannelInventoryPayload:
            unset = strawberry.UNSET
            request = allocation.SetAllocation(
                product=product_ref(input.product_id, input.sku),
                channel=required_channel_ref(context, input.channel_id, input.channel_code),
                allocated=allocation.KEEP
                if input.allocated_quantity is unset
                else input.allocated_quantity,
                buffer=allocation.KEEP if input.buffer_quantity is unset else input.buffer_quantity,
                expected_version=input.expected_version,
                variant_id=input.variant_id,
            )
            entry = await context.transaction(lambda conn: allocation.set_allocation(conn, request))
            return SetChannelInventoryPayload(channel_inventory=ChannelInventory.from_record(entry))

        return await mutate(info, Permission.MANAGE_ALLOCATIONS, SetChannelInventoryPayload, work)

    @strawberry.mutation(description="Allocate products to channels by strategy.")
    async def allocate_inventory_to_channels(
        self, info: Info, input: AllocateInventoryToChannelsInput
    ) -> AllocateInventoryToChannelsPayload:
        async def work(context: Context) -> AllocateInventoryToChannelsPayload:
            request = allocating.Allocate(
                products=product_refs(input.product_ids, input.skus),
                strategy=input.strategy,
                channels=channel_refs(context, input.channel_ids, input.channel_codes),
                total_quantity=input.total_quantity,
                custom=_custom(context, input.custom or []),
                buffer_percent=input.buffer_percent,
                lookback_days=input.lookback_days,
                days_of_supply=input.days_of_supply,
            )
            entries = await context.transaction(
                lambda conn: allocating.allocate_to_channels(conn, request)
            )
            return AllocateInventoryToChannelsPayload(
                allocations=[ChannelInventory.from_record(e) for e in entries]
            )

        return await mutate(
            info, Permission.MANAGE_ALLOCATIONS, AllocateInventoryToChannelsPayload, work
        )

    @strawberry.mutation(
        description="Move allocation that sat unsold to the channels that sell fastest."
    )
    async def reallocate_unsold_inventory(
        self, info: Info, input: ReallocateUnsoldInventoryInput | None = None
    ) -> ReallocateUnsoldInventoryPayload:
        given = input or ReallocateUnsoldInventoryInput()

        async def work(context: Context) -> ReallocateUnsoldInventoryPayload:
            products = product_refs(given.product_ids, given.skus)
            moves = await context.transaction(
                lambda conn: reallocation.reallocate_unsold(
                    conn,
                    threshold_days=given.threshold_days,
                    products=products,
                    lookback_days=given.lookback_days,
                    supply_days=given.days_of_supply,
                )
            )
            return ReallocateUnsoldInventoryPayload(
                moves=[
                    AllocationMove(
                        product_id=m.product_id,
                        from_channel_id=m.from_channel_id,
                        to_channel_id=m.to_channel_id,
                        quantity=m.quantity,
                    )
                    for m in moves
                ]
            )

        return await mutate(
            info, Permission.MANAGE_ALLOCATIONS, ReallocateUnsoldInventoryPayload, work
        )
