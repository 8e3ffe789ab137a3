"""On hand as of a past moment, for counts that are applied after they were made.

A count (a cycle count, a source system's COUNT snapshot) says what was on the shelf when it
was counted. By the time it is applied, sales and receipts made since may already be in the
ledger; setting on hand to the counted number would undo them (the ERP nightly-sync
problem). So a count is applied as the difference between what was counted and what the
ledger says was on hand at that moment:

    on hand then = on hand now - sum(d_on_hand of movements that occurred after it)
    correction   = counted - on hand then

and written as a delta, dated at the count's moment, so every later movement is kept and a
second count of the same moment finds nothing to correct.

Movements are dated by business time (occurred_at), which may not lie further in the future
than validation allows (core/validation.py FUTURE_TOLERANCE); so a movement that occurred
after the count was recorded after `counted_at - FUTURE_TOLERANCE`, which lets the ledger's
recorded_at index bound the scan to the movements since the count, however long the level's
history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.validation import FUTURE_TOLERANCE
from onhand.inventory.ledger import lock_preorder_channels

# The levels are locked (id order, as the ledger locks them) so that nothing moves between
# this reading and the correction written in the same transaction.
_ON_HAND_THEN = text(
    """
    SELECT l.id, l.product_id, l.on_hand,
        l.on_hand - coalesce((
            SELECT sum(m.d_on_hand) FROM inventory_movements m
            WHERE m.level_id = l.id
              AND m.occurred_at > CAST(:counted_at AS timestamptz)
              AND m.recorded_at > CAST(:counted_at AS timestamptz) - CAST(:tolerance AS interval)
        ), 0) AS on_hand_then
    FROM inventory_levels l
    WHERE l.warehouse_id = :warehouse_id AND l.product_id = ANY(CAST(:products AS bigint[]))
    ORDER BY l.id
    FOR UPDATE OF l
    """
)
_ON_HAND_NOW = text(
    """
    SELECT l.id, l.product_id, l.on_hand, l.on_hand AS on_hand_then
    FROM inventory_levels l
    WHERE l.warehouse_id = :warehouse_id AND l.product_id = ANY(CAST(:products AS bigint[]))
    ORDER BY l.id
    FOR UPDATE OF l
    """
)


@dataclass(frozen=True, slots=True)
class CountedLevel:
    """A level as a count finds it: on hand now, and as of the count's moment."""

    level_id: int
    product_id: int
    on_hand: int
    on_hand_then: int


async def lock_levels_as_of(
    conn: AsyncConnection,
    warehouse_id: int,
    product_ids: Sequence[int],
    counted_at: datetime | None,
) -> tuple[dict[int, CountedLevel], set[tuple[int, int]]]:
    """Lock the products' levels at the warehouse; each with its on hand as of `counted_at`
    (None: now). Products not stocked there are left out. A count may raise on hand where
    preorders wait, and converting them raises their channels' `held`: those channel rows
    are locked first, before the levels, as every reservation path locks them, and returned
    for the count's change (apply_change's `channels_locked`)."""
    channels_locked = await lock_preorder_channels(conn, product_ids)
    params = {"warehouse_id": warehouse_id, "products": list(product_ids)}
    if counted_at is None:
        rows = await conn.execute(_ON_HAND_NOW, params)
    else:
        rows = await conn.execute(
            _ON_HAND_THEN, {**params, "counted_at": counted_at, "tolerance": FUTURE_TOLERANCE}
        )
    levels = {
        row.product_id: CountedLevel(row.id, row.product_id, row.on_hand, row.on_hand_then)
        for row in rows
    }
    return levels, channels_locked
