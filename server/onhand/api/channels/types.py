"""GraphQL types of channels and of what each may sell (ChannelInventory)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.channels.access import check_readable, scope
from onhand.api.context import Info
from onhand.api.pagination import Connection
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.inventory.channels import registry as channels
from onhand.inventory.channels.availability import ChannelAvailability, WarehouseStock, availability

ChannelKindEnum = strawberry.enum(
    channels.ChannelKind,
    name="ChannelKind",
    description="REALTIME: storefronts, POS and apps that query and reserve live. BATCH: "
    "marketplaces that pull (or are pushed) their stock every sync interval.",
)


async def product_ids_of(
    info: Info, product_ids: Sequence[str], skus: Sequence[str]
) -> list[int | None]:
    """Products named by global id or SKU, in that order; None for one that does not exist."""
    wanted = [ids.decode(p, "Product", "productIds") for p in product_ids]
    found = await info.context.loaders.product.load_many(wanted)
    by_sku = await info.context.loaders.product_by_sku.load_many(list(skus))
    return [r.id if r else None for r in (*found, *by_sku)]


async def load_channel(info: Info, channel_id: int) -> channels.Channel | None:
    loader = info.context.loaders.channels.by_id
    found: channels.Channel | None = await loader.load(channel_id)
    return found


async def load_channel_by_code(info: Info, code: str) -> channels.Channel | None:
    loader = info.context.loaders.channels.by_code
    found: channels.Channel | None = await loader.load(code)
    return found


async def load_named_channel(info: Info, ref: channels.ChannelRef) -> channels.Channel | None:
    """The channel a query names, through the request's loaders; None when there is none.
    A bound caller naming another is FORBIDDEN (channels.find_channel decides)."""
    if ref.id is not None:
        record = await load_channel(info, ref.id)
    else:
        record = await load_channel_by_code(info, ref.key or "")
    found = channels.find_channel(ref, [record] if record is not None else [])
    if not isinstance(found, Problem):
        return found
    if found.code == ErrorCode.NOT_FOUND:
        return None
    raise DomainError(found)


@strawberry.type(description="A sales channel: where stock is sold, and from which warehouses.")
class Channel(relay.Node):
    id: relay.NodeID[int]
    code: str = strawberry.field(description="Unique, e.g. WEBSITE, POS, AMAZON.")
    name: str
    kind: ChannelKindEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    priority: int = strawberry.field(description="Higher first (PRIORITY allocations).")
    safety_buffer_percent: float = strawberry.field(
        description="Kept back from sale when the channel has no allocation of a product: "
        "this share of what its warehouses have available, rounded up."
    )
    oversell_protection: bool = strawberry.field(
        description="When true, a reservation may not exceed the channel's availableToSell "
        "(allocation and buffer; a BATCH channel's ORDER reservations, marketplace orders sold "
        "against its last synced figure, may take the buffer); when false only the warehouses' "
        "own rules apply."
    )
    sync_interval_minutes: float = strawberry.field(
        description="How often a BATCH channel is synchronized."
    )
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, record: channels.Channel) -> Channel:
        return cls(
            id=record.id,
            code=record.code,
            name=record.name,
            kind=record.kind,
            priority=record.priority,
            safety_buffer_percent=record.safety_buffer_percent,
            oversell_protection=record.oversell_protection,
            sync_interval_minutes=record.sync_interval_minutes,
            is_active=record.is_active,
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    @classmethod
    def from_row(cls, row: Any) -> Channel:
        return cls.from_record(channels.Channel.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Channel | None]:
        check(info, Permission.READ_CHANNEL)
        wanted = ids.node_ids(node_ids, "Channel")
        for channel_id in wanted:
            check_readable(info, channel_id)
        found = await asyncio.gather(*(load_channel(info, i) for i in wanted))
        return [cls.from_record(r) if r else None for r in found]

    @strawberry.field(description="The warehouses whose stock this channel sells.")
    async def warehouses(self, info: Info) -> list[Warehouse]:
        # Through a loader, not the record: a listing's rows carry no warehouses, and a page
        # of channels must cost one query, not one per channel.
        loader = info.context.loaders.channels.warehouse_ids
        warehouse_ids = await loader.load(self.id) or []
        found = await info.context.loaders.warehouse.load_many(warehouse_ids)
        return [Warehouse.from_record(w) for w in found if w is not None]

    @strawberry.field(description="What this channel may sell of one product now.")
    async def inventory(
        self, info: Info, product_id: strawberry.ID | None = None, sku: str | None = None
    ) -> ChannelInventory | None:
        if (product_id is None) == (sku is None):
            raise DomainError.of(ErrorCode.REQUIRED, "give either productId or sku", "productId")
        [product] = await product_ids_of(
            info, [product_id] if product_id else [], [sku] if sku else []
        )
        record = await load_channel(info, self.id)
        if record is None or product is None:
            return None
        async with info.context.services.engine.connect() as conn:
            found = await availability(conn, [record], [product])
        entry = found.get((self.id, product))
        return ChannelInventory.from_record(entry) if entry else None


@strawberry.type(description="One of a channel's warehouses, for one product.")
class ChannelWarehouseStock:
    warehouse_id: strawberry.Private[int]
    on_hand: int
    reserved: int
    committed: int
    available: int = strawberry.field(description="The level's available (may be negative).")
    sellable: int = strawberry.field(
        description="What this warehouse adds to the channel's availability: available, at least 0."
    )

    @classmethod
    def from_record(cls, stock: WarehouseStock) -> ChannelWarehouseStock:
        return cls(
            warehouse_id=stock.warehouse_id,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            committed=stock.committed,
            available=stock.available,
            sellable=stock.sellable,
        )

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)


@strawberry.type(
    description="What a channel may sell of a product. availableToSell = max(0, "
    "min(physicalAvailable, remainingAllocation) - bufferQuantity), where physicalAvailable "
    "is what the channel's active warehouses really have available (none counted below zero) "
    "and remainingAllocation = allocatedQuantity - heldQuantity when an allocation is set."
)
class ChannelInventory:
    channel_id: strawberry.Private[int]
    product_id: strawberry.Private[int]
    stocks: strawberry.Private[tuple[WarehouseStock, ...]]
    available_to_sell: int
    allocated_quantity: int | None = strawberry.field(
        description="The most this channel may hold of the product; null: no allocation."
    )
    buffer_quantity: int = strawberry.field(
        description="Kept back: the allocation's buffer, or the channel's safety buffer "
        "percent of physicalAvailable when there is no allocation."
    )
    held_quantity: int = strawberry.field(
        description="Held by this channel's active reservations (reserved and committed)."
    )
    remaining_allocation: int | None
    physical_available: int
    version: int = strawberry.field(
        description="Of the allocation (0 before any); see setChannelInventory's expectedVersion."
    )
    updated_at: datetime | None

    @classmethod
    def from_record(cls, entry: ChannelAvailability) -> ChannelInventory:
        return cls(
            channel_id=entry.channel_id,
            product_id=entry.product_id,
            stocks=entry.warehouses,
            available_to_sell=entry.available_to_sell,
            allocated_quantity=entry.allocated,
            buffer_quantity=entry.buffer,
            held_quantity=entry.held,
            remaining_allocation=entry.remaining_allocation,
            physical_available=entry.physical,
            version=entry.version,
            updated_at=entry.updated_at,
        )

    @classmethod
    async def of_product(cls, info: Info, product_id: int) -> list[ChannelInventory]:
        """A product's availability on every active channel (a bound token: its own only;
        Product.channelAvailability)."""
        check(info, Permission.READ_CHANNEL)
        loader = info.context.loaders.channels.availability_of_product
        bound = scope(info.context)
        entries = await loader.load(product_id) or []
        return [cls.from_record(e) for e in entries if bound is None or e.channel_id == bound]

    @strawberry.field
    async def channel(self, info: Info) -> Channel | None:
        record = await load_channel(info, self.channel_id)
        return Channel.from_record(record) if record else None

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field(description="The per-warehouse breakdown (needs READ_STOCK).")
    def warehouses(self, info: Info) -> list[ChannelWarehouseStock]:
        check(info, Permission.READ_STOCK)
        return [ChannelWarehouseStock.from_record(s) for s in self.stocks]


ChannelConnection = Connection[Channel]
