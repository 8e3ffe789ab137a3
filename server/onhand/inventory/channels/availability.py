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

The formula lives here once (`compute`); the queries only fetch its inputs, and reservations
call it on the levels they hold locked.
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


def percent_of(quantity: int, percent: float) -> int:
    """`percent` of `quantity`, rounded up (decimal arithmetic: 7% of 100 is 7, not 8)."""
    if quantity <= 0 or percent <= 0:
        return 0
    return math.ceil(Decimal(str(percent)) * quantity / 100)


def buffer_of(allocation: Allocation | None, physical: int, percent: float) -> int:
    if allocation is not None and allocation.buffer is not None:
        return allocation.buffer
    if allocation is not None and allocation.allocated is not None:
        return 0
    return percent_of(physical, percent)


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
    remaining = None if allocated is None else max(0, allocated - held)
    buffer = buffer_of(allocation, physical, channel.safety_buffer_percent)
    cap = physical if remaining is None else min(physical, remaining)
    sellable = channel.is_active and product_active
    return ChannelAvailability(
        channel_id=channel.id,
        product_id=product_id,
        physical=physical,
        allocated=allocated,
        held=held,
        remaining_allocation=remaining,
        buffer=buffer,
        available_to_sell=max(0, cap - buffer) if sellable else 0,
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
_PRODUCTS = text("SELECT id, is_active FROM products WHERE id = ANY(CAST(:products AS bigint[]))")


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
    active = {
        row.id: row.is_active for row in await conn.execute(_PRODUCTS, {"products": products})
    }
    result: dict[tuple[int, int], ChannelAvailability] = {}
    for channel in channels:
        linked = set(channel.warehouse_ids)
        for product_id in products:
            if product_id not in active:
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


# Every product the channel could sell (stocked at one of its warehouses, or allocated to
# it), with its physical availability summed in the database: one pass, no breakdown.
_CHANNEL_PRODUCTS = text(
    """
    WITH stocked AS (
        SELECT l.product_id, sum(greatest(l.available, 0)) AS physical
        FROM inventory_levels l
        JOIN channel_warehouses cw ON cw.warehouse_id = l.warehouse_id
            AND cw.channel_id = :channel
        JOIN warehouses w ON w.id = l.warehouse_id AND w.is_active
        WHERE (CAST(:after AS bigint) IS NULL OR l.product_id > :after)
          AND (CAST(:products AS bigint[]) IS NULL
               OR l.product_id = ANY(CAST(:products AS bigint[])))
        GROUP BY l.product_id
    ),
    candidates AS (
        SELECT product_id FROM stocked
        UNION
        SELECT product_id FROM channel_inventory
        WHERE channel_id = :channel
          AND (CAST(:after AS bigint) IS NULL OR product_id > :after)
          AND (CAST(:products AS bigint[]) IS NULL
               OR product_id = ANY(CAST(:products AS bigint[])))
    )
    SELECT c.product_id, p.is_active AS product_active, coalesce(s.physical, 0) AS physical,
        ci.channel_id, ci.allocated, ci.buffer, ci.held, ci.version, ci.allocated_since,
        ci.updated_at
    FROM candidates c
    JOIN products p ON p.id = c.product_id
    LEFT JOIN stocked s ON s.product_id = c.product_id
    LEFT JOIN channel_inventory ci ON ci.channel_id = :channel AND ci.product_id = c.product_id
    ORDER BY c.product_id
    LIMIT :limit
    """
)


async def channel_products(
    conn: AsyncConnection,
    channel: Channel,
    *,
    after: int | None = None,
    limit: int = 1000,
    product_ids: Sequence[int] | None = None,
) -> list[ChannelAvailability]:
    """ATS of the channel's products in product id order, from `after` on: a page of the
    channel's full snapshot (no per-warehouse breakdown)."""
    rows = await conn.execute(
        _CHANNEL_PRODUCTS,
        {
            "channel": channel.id,
            "after": after,
            "limit": limit,
            "products": list(product_ids) if product_ids is not None else None,
        },
    )
    result = []
    for row in rows:
        allocation = Allocation.from_row(row) if row.channel_id is not None else None
        result.append(
            compute(
                channel,
                row.product_id,
                allocation,
                int(row.physical),
                product_active=row.product_active,
            )
        )
    return result
