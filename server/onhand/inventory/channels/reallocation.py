"""reallocateUnsoldInventory: allocation that sat unsold moves to the channels that sell the
product fastest. channelsWithExcess shows the same unsold allocations without moving them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import Collector
from onhand.core.refs import Ref
from onhand.inventory.channels.allocation import AllocationRow, write_allocations
from onhand.inventory.channels.registry import active_channels
from onhand.inventory.channels.sales import sales
from onhand.inventory.channels.strategies import (
    DAYS_OF_SUPPLY,
    LOOKBACK_DAYS,
    Demand,
    days_of_supply,
)
from onhand.inventory.refs import resolve_products


@dataclass(frozen=True)
class Move:
    product_id: int
    from_channel_id: int
    to_channel_id: int
    quantity: int


# Allocations that sat unsold: allocated for at least `days`, nothing sold in that time, and
# something left to move. The one selection behind reallocateUnsoldInventory and
# channelsWithExcess.
_UNSOLD = text(
    """
    SELECT ci.channel_id, ci.product_id, ci.allocated, ci.held, ci.allocated_since,
        (SELECT max(m.occurred_at) FROM inventory_movements m
         WHERE m.type = 'SALE' AND m.channel_id = ci.channel_id
           AND m.product_id = ci.product_id) AS last_sold_at
    FROM channel_inventory ci
    JOIN channels c ON c.id = ci.channel_id
    WHERE ci.allocated IS NOT NULL AND ci.allocated > ci.held
      AND ci.allocated_since <= now() - CAST(:days AS int) * interval '1 day'
      AND (CAST(:products AS bigint[]) IS NULL OR ci.product_id = ANY(CAST(:products AS bigint[])))
      AND NOT EXISTS (
          SELECT 1 FROM inventory_movements m
          WHERE m.type = 'SALE' AND m.channel_id = ci.channel_id
            AND m.product_id = ci.product_id
            AND m.occurred_at >= now() - CAST(:days AS int) * interval '1 day')
    ORDER BY ci.product_id, ci.channel_id
    LIMIT 10000
    """
)


@dataclass(frozen=True)
class Unsold:
    """An allocation that sat unsold: what reallocation may move away (excess)."""

    channel_id: int
    product_id: int
    allocated: int
    held: int
    allocated_since: datetime
    last_sold_at: datetime | None  # the channel's last sale of the product (before the window)

    @property
    def excess(self) -> int:
        return self.allocated - self.held


def _check_days(errors: Collector, **days: int) -> None:
    for name, value in days.items():
        if not 1 <= value <= 365:
            errors.invalid(name, f"{name} must be between 1 and 365")


async def unsold_allocations(
    conn: AsyncConnection, threshold_days: int, product_ids: Sequence[int] | None = None
) -> list[Unsold]:
    """Allocations held at least `threshold_days` with no sale in that time and something left
    above what their channel holds, by product then channel (at most 10,000)."""
    rows = await conn.execute(_UNSOLD, {"days": threshold_days, "products": product_ids})
    return [Unsold(**row._mapping) for row in rows]


async def channels_with_excess(
    conn: AsyncConnection, *, threshold_days: int = 30, products: Sequence[Ref] = ()
) -> dict[int, list[Unsold]]:
    """What reallocateUnsoldInventory would take from each channel: its unsold allocations,
    by channel id (channels in id order, each's products in product order)."""
    errors = Collector()
    _check_days(errors, thresholdDays=threshold_days)
    errors.raise_if_any()
    product_filter = await resolve_products(conn, products) if products else None
    grouped: dict[int, list[Unsold]] = {}
    for unsold in await unsold_allocations(conn, threshold_days, product_filter):
        grouped.setdefault(unsold.channel_id, []).append(unsold)
    return dict(sorted(grouped.items()))


async def reallocate_unsold(
    conn: AsyncConnection,
    *,
    threshold_days: int = 30,
    products: Sequence[Ref] = (),
    lookback_days: int = LOOKBACK_DAYS,
    supply_days: int = DAYS_OF_SUPPLY,
) -> list[Move]:
    """Move what is left of allocations unsold for `threshold_days` to the active channels
    that sell the product fastest (over `lookback_days`) and are short of `supply_days` of
    supply under their own allocation. Channels without an allocation need nothing moved:
    nothing caps them."""
    errors = Collector()
    _check_days(errors, thresholdDays=threshold_days, lookbackDays=lookback_days)
    errors.raise_if_any()
    product_filter = await resolve_products(conn, products) if products else None
    stale = await unsold_allocations(conn, threshold_days, product_filter)
    if not stale:
        return []
    product_ids = sorted({row.product_id for row in stale})
    channels = {c.id: c for c in await active_channels(conn)}
    stale_pairs = {(row.channel_id, row.product_id) for row in stale}
    locked = {
        (row.channel_id, row.product_id): row
        for row in await conn.execute(
            text(
                "SELECT * FROM channel_inventory"
                " WHERE product_id = ANY(CAST(:products AS bigint[]))"
                " ORDER BY channel_id, product_id FOR UPDATE"
            ),
            {"products": product_ids},
        )
    }
    sold = await sales(conn, list(channels), product_ids, lookback_days)
    allocated = {key: row.allocated for key, row in locked.items()}
    moves: list[Move] = []
    for product_id in product_ids:
        sources = [key for key in sorted(stale_pairs) if key[1] == product_id]
        targets = sorted(
            (
                key
                for key, row in locked.items()
                if key[1] == product_id
                and key not in stale_pairs
                and key[0] in channels
                and row.allocated is not None
                and sold.get(key, 0) > 0
            ),
            key=lambda key: (-sold.get(key, 0), -channels[key[0]].priority, key[0]),
        )
        for source in sources:
            excess = max(0, (allocated[source] or 0) - locked[source].held)
            for target in targets:
                wanted = Demand(target[0], 0, sold.get(target, 0))
                need = days_of_supply(wanted, lookback_days, supply_days) - (
                    (allocated[target] or 0) - locked[target].held
                )
                quantity = min(excess, max(0, need))
                if quantity <= 0:
                    continue
                allocated[source] = (allocated[source] or 0) - quantity
                allocated[target] = (allocated[target] or 0) + quantity
                excess -= quantity
                moves.append(Move(product_id, source[0], target[0], quantity))
    changed = {
        key
        for move in moves
        for key in ((move.from_channel_id, move.product_id), (move.to_channel_id, move.product_id))
    }
    await write_allocations(
        conn,
        [
            AllocationRow(key[0], key[1], allocated[key], locked[key].buffer, "REALLOCATED")
            for key in sorted(changed)
        ],
    )
    return moves
