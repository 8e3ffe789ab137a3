"""Stock received: waiting preorders become ORDER reservations, oldest first.

The ledger calls `convert_waiting` in the receipt's own transaction, right after a change
raised on-hand stock at levels where preorders of the product wait (its statement says so
for each movement, at the cost of an index probe on receipts only). The levels are still
locked by that change, so their `available` is exact: preorders are taken oldest first while
they fit, whole, and a level stops at the first of its preorders that does not fit (a later,
smaller one may not jump the queue). A preorder waiting for any warehouse converts at the
first receiving level its channel (if any) sells from.

The ledger locked the channel x product rows of the waiting preorders before the levels, as
reservations do (so a receipt and a reservation cannot deadlock); a preorder placed after that
waits for the next receipt. Here the reservations are made, the preorders marked CONVERTED,
the channels' `held` raised and the events written (RESERVATION_CHANGED CREATED,
PREORDER_CHANGED CONVERTED); the ledger then applies the COMMITTED movements, which check
every level again. This module imports no ledger: the ledger imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.preorders.model import PreorderChangeKind
from onhand.inventory.preorders.model import event_insert as preorder_events
from onhand.inventory.reservations.model import ChangeKind
from onhand.inventory.reservations.model import event_insert as reservation_events

# Waiting preorders of the received products, oldest first and locked (a concurrent release
# waits, then finds it converted); with the received levels' availability and the warehouses
# of each preorder's channel.
_WAITING = text(
    """
    WITH received AS (
        SELECT * FROM unnest(CAST(:products AS bigint[]), CAST(:warehouses AS bigint[]))
            AS r(product_id, warehouse_id)
    ),
    waiting AS (
        SELECT p.id, p.product_id, p.warehouse_id, p.channel_id, p.quantity
        FROM preorders p
        WHERE p.product_id IN (SELECT product_id FROM received) AND p.status = 'ACTIVE'
        ORDER BY p.id
        FOR UPDATE OF p
    )
    SELECT w.id, w.product_id, w.warehouse_id, w.channel_id, w.quantity,
        ARRAY(SELECT cw.warehouse_id FROM channel_warehouses cw
              WHERE cw.channel_id = w.channel_id) AS channel_warehouses,
        NULL::bigint AS level_warehouse, NULL::int AS available
    FROM waiting w
    UNION ALL
    SELECT NULL, l.product_id, NULL, NULL, NULL, NULL, l.warehouse_id, l.available
    FROM inventory_levels l JOIN received r
        ON r.product_id = l.product_id AND r.warehouse_id = l.warehouse_id
    JOIN warehouses wh ON wh.id = l.warehouse_id AND wh.is_active
    """
)

_CONVERT = text(
    f"""
    WITH c AS MATERIALIZED (
        SELECT n.preorder_id, n.warehouse_id, n.ord,
            nextval('reservations_id_seq') AS reservation_id
        FROM unnest(CAST(:preorders AS bigint[]), CAST(:warehouses AS bigint[]))
            WITH ORDINALITY AS n(preorder_id, warehouse_id, ord)
    ),
    made AS (
        INSERT INTO reservations (id, type, product_id, warehouse_id, channel_id, quantity,
            reference_id, actor)
        SELECT c.reservation_id, 'ORDER', p.product_id, c.warehouse_id, p.channel_id,
            p.quantity, p.reference_id, :actor
        FROM c JOIN preorders p ON p.id = c.preorder_id
        ORDER BY c.ord
        RETURNING *
    ),
    converted AS (
        UPDATE preorders p SET status = 'CONVERTED', reservation_id = c.reservation_id,
            warehouse_id = c.warehouse_id, updated_at = now(), ended_at = now(),
            version = p.version + 1
        FROM c WHERE p.id = c.preorder_id
        RETURNING p.*
    ),
    held AS (
        INSERT INTO channel_inventory AS ci (channel_id, product_id, held)
        SELECT channel_id, product_id, sum(quantity) FROM made
        WHERE channel_id IS NOT NULL
        GROUP BY channel_id, product_id
        ORDER BY channel_id, product_id
        ON CONFLICT (channel_id, product_id) DO UPDATE SET held = ci.held + EXCLUDED.held
    ),
    events AS ({reservation_events("r", ChangeKind.CREATED, "made")}),
    preorder_events AS ({preorder_events("p", PreorderChangeKind.CONVERTED, "converted")})
    SELECT * FROM made ORDER BY id
    """
)


@dataclass(frozen=True, slots=True)
class Conversion:
    """A preorder converted: the ORDER reservation it became, to be committed by the ledger."""

    reservation_id: int
    product_id: int
    warehouse_id: int
    channel_id: int | None
    quantity: int
    reference_id: str | None


async def convert_waiting(
    conn: AsyncConnection,
    received: Sequence[tuple[int, int]],
    channels_locked: AbstractSet[tuple[int, int]],
    actor: str,
) -> list[Conversion]:
    """Convert what fits of the preorders waiting at the received levels (product, warehouse),
    which the caller holds locked, as it holds the `channels_locked` rows (channel, product),
    locked before the levels. Returns the reservations made, in preorder order."""
    rows = (
        await conn.execute(
            _WAITING,
            {"products": [p for p, _ in received], "warehouses": [w for _, w in received]},
        )
    ).all()
    available = {(r.product_id, r.level_warehouse): r.available for r in rows if r.level_warehouse}
    blocked: set[tuple[int, int]] = set()
    chosen: list[tuple[int, int]] = []
    for row in sorted((r for r in rows if r.id is not None), key=lambda r: r.id):
        if row.channel_id is not None and (row.channel_id, row.product_id) not in channels_locked:
            # Placed while the receipt was under way, after its channel rows were locked:
            # locking its channel's row now, after the levels, could deadlock with a
            # reservation. It waits for the next receipt, as if placed just after this one.
            continue
        for level in sorted(available):
            product_id, warehouse_id = level
            if product_id != row.product_id or level in blocked:
                continue
            if row.warehouse_id is not None and row.warehouse_id != warehouse_id:
                continue
            if row.channel_id is not None and warehouse_id not in row.channel_warehouses:
                continue
            if row.quantity <= available[level]:
                available[level] -= row.quantity
                chosen.append((row.id, warehouse_id))
                break
            blocked.add(level)  # oldest first: no later preorder jumps this one here
    if not chosen:
        return []
    made = await conn.execute(
        _CONVERT,
        {
            "preorders": [p for p, _ in chosen],
            "warehouses": [w for _, w in chosen],
            "actor": actor,
        },
    )
    return [
        Conversion(
            row.id, row.product_id, row.warehouse_id, row.channel_id, row.quantity, row.reference_id
        )
        for row in made
    ]
