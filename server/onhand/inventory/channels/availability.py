"""Available-to-sell (ATS): what a channel may sell of a product right now.

    physical  = what the channel's active warehouses really have available, each counted
                at zero at worst (a warehouse short of its safety stock takes nothing from
                the others)
    remaining = allocated - held, when the channel has an allocation of the product
                (held: what the channel holds through active reservations)
    ATS       = max(0, min(physical, remaining) - buffer)

The buffer is the allocation's buffer quantity when one is set; with no allocation it is the
channel's safety buffer percent of `physical`, rounded up, so the last units are never shown.
An inactive channel or product sells nothing.

The formula is written once (`available_to_sell`); every query (a product's channels, the
channel feed's 48,000-product snapshot) only fetches its inputs, and reservations call it on
the levels they judge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.channels.registry import Channel
from onhand.inventory.kits.availability import KitOnChannel, kits_on_channels


@dataclass(frozen=True, slots=True)
class WarehouseStock:
    """One level of the product at one of the channel's warehouses."""

    warehouse_id: int
    on_hand: int
    reserved: int
    committed: int
    available: int

    @property
    def sellable(self) -> int:
        return max(0, self.available)


@dataclass(frozen=True, slots=True)
class Allocation:
    """A channel x product row: its allocation (if any) and what the channel holds."""

    channel_id: int
    product_id: int
    allocated: int | None
    buffer: int | None
    held: int
    version: int
    allocated_since: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Allocation:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            channel_id=m["channel_id"],
            product_id=m["product_id"],
            allocated=m["allocated"],
            buffer=m["buffer"],
            held=m["held"],
            version=m["version"],
            allocated_since=m.get("allocated_since"),
            updated_at=m.get("updated_at"),
        )


@dataclass(frozen=True, slots=True)
class ChannelAvailability:
    channel_id: int
    product_id: int
    physical: int
    allocated: int | None
    held: int
    remaining_allocation: int | None
    buffer: int
    available_to_sell: int
    version: int
    warehouses: tuple[WarehouseStock, ...] = ()
    updated_at: datetime | None = None


def percent_of(quantity: int, percent: float | Decimal) -> int:
    """`percent` of `quantity`, rounded up (decimal arithmetic: 7% of 100 is 7, not 8)."""
    if quantity <= 0 or percent <= 0:
        return 0
    exact = percent if isinstance(percent, Decimal) else Decimal(str(percent))
    return math.ceil(exact * quantity / 100)


def buffer_of(
    allocated: int | None, buffer: int | None, physical: int, percent: float | Decimal
) -> int:
    if buffer is not None:
        return buffer
    if allocated is not None:
        return 0
    return percent_of(physical, percent)


def available_to_sell(
    physical: int,
    allocated: int | None,
    buffer: int | None,
    held: int,
    percent: float | Decimal,
    *,
    sells: bool = True,
) -> int:
    """The formula of the module docstring, on its inputs: the one place it is written.
    `sells`: the channel and the product are both active."""
    if not sells:
        return 0
    cap = physical if allocated is None else min(physical, max(0, allocated - held))
    return max(0, cap - buffer_of(allocated, buffer, physical, percent))


def compute(
    channel: Channel,
    product_id: int,
    allocation: Allocation | None,
    physical: int,
    *,
    product_active: bool = True,
    warehouses: Sequence[WarehouseStock] = (),
) -> ChannelAvailability:
    held = allocation.held if allocation else 0
    allocated = allocation.allocated if allocation else None
    buffer = allocation.buffer if allocation else None
    percent = channel.safety_buffer_percent
    return ChannelAvailability(
        channel_id=channel.id,
        product_id=product_id,
        physical=physical,
        allocated=allocated,
        held=held,
        remaining_allocation=None if allocated is None else max(0, allocated - held),
        buffer=buffer_of(allocated, buffer, physical, percent),
        available_to_sell=available_to_sell(
            physical,
            allocated,
            buffer,
            held,
            percent,
            sells=channel.is_active and product_active,
        ),
        version=allocation.version if allocation else 0,
        warehouses=tuple(warehouses),
        updated_at=allocation.updated_at if allocation else None,
    )


def physical_of(stocks: Iterable[WarehouseStock]) -> int:
    return sum(stock.sellable for stock in stocks)


_LEVELS = text(
    """
    SELECT l.product_id, l.warehouse_id, l.on_hand, l.reserved, l.committed, l.available
    FROM inventory_levels l JOIN warehouses w ON w.id = l.warehouse_id AND w.is_active
    WHERE l.product_id = ANY(CAST(:products AS bigint[]))
      AND l.warehouse_id = ANY(CAST(:warehouses AS bigint[]))
    ORDER BY l.product_id, l.warehouse_id
    """
)
_ALLOCATIONS = text(
    """
    SELECT * FROM channel_inventory
    WHERE channel_id = ANY(CAST(:channels AS bigint[]))
      AND product_id = ANY(CAST(:products AS bigint[]))
    """
)
_PRODUCTS = text(
    "SELECT id, is_active, is_kit FROM products WHERE id = ANY(CAST(:products AS bigint[]))"
)


async def allocations_of(
    conn: AsyncConnection, channel_ids: Sequence[int], product_ids: Sequence[int]
) -> dict[tuple[int, int], Allocation]:
    rows = await conn.execute(
        _ALLOCATIONS, {"channels": list(channel_ids), "products": list(product_ids)}
    )
    return {(row.channel_id, row.product_id): Allocation.from_row(row) for row in rows}


async def availability(
    conn: AsyncConnection, channels: Sequence[Channel], product_ids: Sequence[int]
) -> dict[tuple[int, int], ChannelAvailability]:
    """ATS of every channel x product given, with the per-warehouse breakdown. Products that
    do not exist are left out."""
    products = list(dict.fromkeys(product_ids))
    if not channels or not products:
        return {}
    warehouse_ids = sorted({w for channel in channels for w in channel.warehouse_ids})
    stocks: dict[int, list[tuple[int, WarehouseStock]]] = {}
    rows = await conn.execute(_LEVELS, {"products": products, "warehouses": warehouse_ids})
    for row in rows:
        stock = WarehouseStock(
            row.warehouse_id, row.on_hand, row.reserved, row.committed, row.available
        )
        stocks.setdefault(row.product_id, []).append((row.warehouse_id, stock))
    allocations = await allocations_of(conn, [c.id for c in channels], products)
    active: dict[int, bool] = {}
    kits: list[int] = []
    for row in await conn.execute(_PRODUCTS, {"products": products}):
        active[row.id] = row.is_active
        if row.is_kit:
            kits.append(row.id)
    result: dict[tuple[int, int], ChannelAvailability] = {}
    if kits:  # derived from their components (they hold no stock)
        derived = await kits_on_channels(conn, channels, kits, availability)
        for (channel_id, kit_id), kit in derived.items():
            result[(channel_id, kit_id)] = _of_kit(channel_id, kit_id, kit, active[kit_id])
    for channel in channels:
        linked = set(channel.warehouse_ids)
        for product_id in products:
            if product_id not in active or (channel.id, product_id) in result:
                continue
            mine = [s for w, s in stocks.get(product_id, []) if w in linked]
            result[(channel.id, product_id)] = compute(
                channel,
                product_id,
                allocations.get((channel.id, product_id)),
                physical_of(mine),
                product_active=active[product_id],
                warehouses=mine,
            )
    return result


def _of_kit(channel_id: int, kit_id: int, kit: KitOnChannel, active: bool) -> ChannelAvailability:
    """A kit's availability, derived from its components' (kits/availability.py): it holds,
    allocates and buffers nothing of its own."""
    mine = tuple(WarehouseStock(s.warehouse_id, s.on_hand, 0, 0, s.available) for s in kit.stock)
    return ChannelAvailability(
        channel_id=channel_id,
        product_id=kit_id,
        physical=physical_of(mine),
        allocated=None,
        held=0,
        remaining_allocation=None,
        buffer=0,
        available_to_sell=kit.available_to_sell if active else 0,
        version=0,
        warehouses=mine,
    )
