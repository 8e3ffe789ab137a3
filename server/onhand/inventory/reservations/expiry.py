"""Expiring due reservations, a batch in ONE statement: the sweeper's write.

The statement claims up to `batch` due reservations no other sweeper holds (oldest expiry
first, FOR UPDATE SKIP LOCKED, so sweepers never wait on each other nor expire a reservation
twice), locks their channels' rows and then their levels (the lock order of every
reservation path: reservations, channel x product rows, levels in id order), and hands one
EXPIRED movement per reservation to the ledger's own statement (ledger.embedded_change_sql:
the same judging, level updates, ledger rows and INVENTORY_UPDATED events as any change).
Only when the ledger accepts the change does it mark the reservations EXPIRED, take their
units off their channels' `held` and append their RESERVATION_CHANGED events; a refusal
writes nothing and is raised. No row travels to Python and back: the batch costs one round
trip, whatever its size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.ledger import (
    FAILURE_COLUMNS,
    MOVEMENT_COLUMNS,
    ChangeContext,
    MovementType,
    embedded_change_sql,
    refusal,
)
from onhand.inventory.reservations.model import ChangeKind, ReservationType, event_insert

REASON = "expired"

_PRELUDE = """
claimed AS MATERIALIZED (
    SELECT r.id, r.type, r.product_id, r.warehouse_id, r.channel_id, r.reference_id,
        r.quantity - r.fulfilled_quantity AS amount
    FROM reservations r
    WHERE r.status = 'ACTIVE' AND r.expires_at IS NOT NULL AND r.expires_at <= now()
    ORDER BY r.expires_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
),
channel_rows AS (
    SELECT ci.id FROM channel_inventory ci
    WHERE (ci.channel_id, ci.product_id) IN (
        SELECT channel_id, product_id FROM claimed WHERE channel_id IS NOT NULL)
    ORDER BY ci.channel_id, ci.product_id
    FOR UPDATE
),
"""

# One movement per reservation, off the bucket it holds its units in.
_ORDER = f"c.type = '{ReservationType.ORDER}'"
_MOVEMENT_VALUES = {
    "product_id": "c.product_id",
    "warehouse_id": "c.warehouse_id",
    "type": f"'{MovementType.EXPIRED}'",
    "d_reserved": f"CASE WHEN {_ORDER} THEN 0 ELSE -c.amount END",
    "d_committed": f"CASE WHEN {_ORDER} THEN -c.amount ELSE 0 END",
    "rule": "'AVAILABLE'",
    "reason": f"'{REASON}'",
    "reference_id": "c.reference_id",
    "channel_id": "c.channel_id",
    "reservation_id": "c.id",
}
_SOURCE = (
    "SELECT "
    + ", ".join(
        f"{_MOVEMENT_VALUES.get(name, '0' if name.startswith('d_') else 'NULL')}::{kind} AS {name}"
        for name, kind in MOVEMENT_COLUMNS.items()
    )
    + ", row_number() OVER (ORDER BY c.id) AS ord FROM claimed c"
)

_TAIL = f""",
changed AS (
    UPDATE reservations r SET
        status = '{ChangeKind.EXPIRED}',
        ended_at = now(),
        updated_at = now(),
        version = r.version + 1
    FROM claimed c
    WHERE r.id = c.id AND (SELECT all_ok FROM verdict)
    RETURNING r.*
),
held AS (
    UPDATE channel_inventory ci SET held = ci.held - d.amount
    FROM (SELECT channel_id, product_id, sum(amount) AS amount FROM claimed
          WHERE channel_id IS NOT NULL GROUP BY channel_id, product_id) d
    WHERE ci.channel_id = d.channel_id AND ci.product_id = d.product_id
      AND (SELECT all_ok FROM verdict)
),
reservation_events AS ({event_insert("r", ChangeKind.EXPIRED, "changed")})
SELECT (SELECT count(*) FROM changed) AS released, f.*
FROM (SELECT 1) one
LEFT JOIN LATERAL (
    SELECT {FAILURE_COLUMNS} FROM judged j WHERE j.failure IS NOT NULL
) f ON true
ORDER BY f.ord
"""

_EXPIRE_DUE = text(embedded_change_sql(_PRELUDE, _SOURCE, _TAIL, levels_after="channel_rows"))


async def expire_due(conn: AsyncConnection, batch: int, context: ChangeContext) -> int:
    """Expire up to `batch` due reservations in one statement; returns how many. Safe with
    any number of sweepers at once: each claims rows the others skip (SKIP LOCKED)."""
    params: dict[str, Any] = {
        "batch": batch,
        "source": str(context.source),
        "actor": context.actor,
        "correlation_id": context.correlation_id,
        "occurred_at": context.occurred_at,
    }
    rows = (await conn.execute(_EXPIRE_DUE, params)).mappings().all()
    failed = [row for row in rows if row["failure"] is not None]
    if failed:
        # The ledger refused (a level gone, a bucket that would go negative): nothing was
        # written, and the caller's transaction ends with the error.
        raise refusal(failed)
    return int(rows[0]["released"])
