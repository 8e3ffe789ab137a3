"""Writing to the ledger a change a level went through outside it.

The ledger's invariant is that each bucket of a level equals the sum of its deltas. A change
made to a level behind the ledger's back (a manual UPDATE, a bug) breaks it, and no ordinary
movement can mend it: `apply_change` moves the level and its ledger by the same delta, so the
gap between them never closes. Reconciliation mends it here instead: one RECONCILIATION row
per level whose deltas are the unrecorded change (level minus ledger sum) and whose values
are the level's as they stand. The level itself is not touched (no new version, no
INVENTORY_UPDATED event: nothing about it changed); the ledger explains it again, and the
row's reason says what was found. It is the only ledger row written outside `apply_change`,
and it is written under the levels' locks (id order, as the ledger takes them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.db.tables import BUCKETS
from onhand.inventory.ledger import ChangeContext, MovementType


@dataclass(frozen=True, slots=True)
class OutsideChange:
    """What a level went through outside the ledger: a delta per bucket (absent: none)."""

    level_id: int
    deltas: Mapping[str, int]
    reason: str


_UNNEST = ", ".join(f"CAST(:d_{b} AS int[])" for b in BUCKETS)
_RECORD = text(
    f"""
    WITH r AS (
        SELECT * FROM unnest(CAST(:level_id AS bigint[]), {_UNNEST}, CAST(:reason AS text[]))
            WITH ORDINALITY AS r(level_id, {", ".join(f"d_{b}" for b in BUCKETS)}, reason, ord)
    ),
    locked AS (
        SELECT l.* FROM inventory_levels l
        WHERE l.id IN (SELECT level_id FROM r)
        ORDER BY l.id
        FOR UPDATE OF l
    ),
    change AS (SELECT nextval('inventory_change_seq') AS change_id)
    INSERT INTO inventory_movements (change_id, level_id, product_id, warehouse_id, type,
        reason, source, actor, reference_id, correlation_id, occurred_at,
        {", ".join(f"d_{b}" for b in BUCKETS)}, {", ".join(BUCKETS)})
    SELECT (SELECT change_id FROM change), l.id, l.product_id, l.warehouse_id,
        '{MovementType.RECONCILIATION}', r.reason, :source, :actor, :reference_id,
        :correlation_id, coalesce(CAST(:occurred_at AS timestamptz), now()),
        {", ".join(f"r.d_{b}" for b in BUCKETS)}, {", ".join(f"l.{b}" for b in BUCKETS)}
    FROM r JOIN locked l ON l.id = r.level_id
    ORDER BY r.ord
    RETURNING id, level_id
    """
)


async def record_outside_changes(
    conn: AsyncConnection,
    changes: Sequence[OutsideChange],
    context: ChangeContext,
    reference_id: str | None = None,
) -> dict[int, int]:
    """Write one ledger row per level; returns each level's row id."""
    if not changes:
        return {}
    ordered = sorted(changes, key=lambda c: c.level_id)
    params: dict[str, object] = {
        "level_id": [c.level_id for c in ordered],
        "reason": [c.reason for c in ordered],
        "source": str(context.source),
        "actor": context.actor,
        "reference_id": reference_id,
        "correlation_id": context.correlation_id,
        "occurred_at": context.occurred_at,
        **{f"d_{b}": [c.deltas.get(b, 0) for c in ordered] for b in BUCKETS},
    }
    rows = await conn.execute(_RECORD, params)
    return {row.level_id: row.id for row in rows}
