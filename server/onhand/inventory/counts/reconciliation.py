"""reconcileInventory: check every level against what should explain it, and report.

Expected values: each bucket is the sum of its ledger deltas (LEDGER); `reserved` and
`committed` are also the sums of the active reservations (RESERVATIONS). Every disagreement
is stored as a discrepancy of the run (level, bucket, basis, recorded, expected). Nothing is
fixed unless the run is asked to repair (repairs.py): as a dry run (the repairs it would write
are stored with the run and shown) or applied (written through the ledger, each explained).

One INSERT ... SELECT does the whole check, set-based (the ledger summed per level in one
pass, joined to the levels and the reservations), so it sees one consistent snapshot: every
change commits levels, ledger rows and reservations together. Discrepancies of earlier runs
over the same levels are SUPERSEDED by the new run, so OPEN ones always say what is wrong now.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.pagination import Listing
from onhand.core.refs import Ref
from onhand.db.operation_tables import reconciliation_discrepancies, reconciliation_runs
from onhand.db.tables import BUCKETS
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.counts.repairs import RepairMode, RepairScope, lock_for_repairs, repair
from onhand.inventory.refs import resolve_product, resolve_warehouse


class Trigger(StrEnum):
    MANUAL = "MANUAL"
    SCHEDULED = "SCHEDULED"


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    warehouse_id: int | None
    trigger: Trigger
    actor: str
    levels_checked: int
    discrepancy_count: int
    started_at: datetime
    finished_at: datetime
    repair: RepairMode | None = None
    product_id: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Run:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            id=m["id"],
            warehouse_id=m["warehouse_id"],
            trigger=Trigger(m["trigger"]),
            actor=m["actor"],
            levels_checked=m["levels_checked"],
            discrepancy_count=m["discrepancy_count"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            repair=RepairMode(m["repair"]) if m["repair"] else None,
            product_id=m["product_id"],
        )


_SUMS = ", ".join(f"sum(d_{b}) AS {b}" for b in BUCKETS)
_RECORDED = ", ".join(f"l.{b}" for b in BUCKETS)
_FROM_LEDGER = ", ".join(f"coalesce(s.{b}, 0)" for b in BUCKETS)
_EXPECTED = ", ".join(f"l.e_{b}" for b in BUCKETS)
_NAMES = ", ".join(f"'{b}'" for b in BUCKETS)

# Levels in scope; the ledger summed per level (one pass, grouped); active reservations summed
# per level; then one row per level x bucket x basis, kept where they disagree.
_CHECK = text(
    f"""
    WITH scope AS (
        SELECT l.* FROM inventory_levels l
        WHERE (CAST(:warehouse_id AS bigint) IS NULL OR l.warehouse_id = :warehouse_id)
          AND (CAST(:product_id AS bigint) IS NULL OR l.product_id = :product_id)
    ),
    sums AS (
        SELECT level_id, {_SUMS} FROM inventory_movements
        WHERE (CAST(:warehouse_id AS bigint) IS NULL OR warehouse_id = :warehouse_id)
          AND (CAST(:product_id AS bigint) IS NULL OR product_id = :product_id)
        GROUP BY level_id
    ),
    holds AS (
        SELECT product_id, warehouse_id,
            sum(quantity - fulfilled_quantity) FILTER (WHERE type <> 'ORDER') AS reserved,
            sum(quantity - fulfilled_quantity) FILTER (WHERE type = 'ORDER') AS committed,
            count(*) FILTER (WHERE type <> 'ORDER') AS reserved_by,
            count(*) FILTER (WHERE type = 'ORDER') AS committed_by
        FROM reservations
        WHERE status = 'ACTIVE'
          AND (CAST(:warehouse_id AS bigint) IS NULL OR warehouse_id = :warehouse_id)
          AND (CAST(:product_id AS bigint) IS NULL OR product_id = :product_id)
        GROUP BY product_id, warehouse_id
    ),
    -- Compared row-wise first, so only the (few) wrong levels are split into buckets.
    wrong AS (
        SELECT l.*, {", ".join(f"coalesce(s.{b}, 0) AS e_{b}" for b in BUCKETS)},
            coalesce(h.reserved, 0) AS h_reserved, coalesce(h.committed, 0) AS h_committed,
            coalesce(h.reserved_by, 0) AS h_reserved_by,
            coalesce(h.committed_by, 0) AS h_committed_by
        FROM scope l
        LEFT JOIN sums s ON s.level_id = l.id
        LEFT JOIN holds h ON h.product_id = l.product_id AND h.warehouse_id = l.warehouse_id
        WHERE ({_RECORDED}, l.reserved, l.committed)
            IS DISTINCT FROM ({_FROM_LEDGER}, coalesce(h.reserved, 0), coalesce(h.committed, 0))
    ),
    checks AS (
        SELECT l.id AS level_id, l.product_id, l.warehouse_id, c.bucket, c.basis, c.recorded,
            c.expected, c.holders
        FROM wrong l
        CROSS JOIN LATERAL (
            SELECT unnest(ARRAY[{_NAMES}, 'reserved', 'committed']) AS bucket,
                unnest(ARRAY[{", ".join(["'LEDGER'"] * len(BUCKETS))},
                    'RESERVATIONS', 'RESERVATIONS']) AS basis,
                unnest(ARRAY[{_RECORDED}, l.reserved, l.committed]) AS recorded,
                unnest(ARRAY[{_EXPECTED}, l.h_reserved, l.h_committed]) AS expected,
                -- How many reservations hold what RESERVATIONS expects (for the repairs).
                unnest(ARRAY[{", ".join(["NULL::bigint"] * len(BUCKETS))},
                    l.h_reserved_by, l.h_committed_by]) AS holders
        ) c
    ),
    found AS (
        SELECT * FROM checks WHERE recorded <> expected ORDER BY level_id, bucket, basis
    )
    SELECT (SELECT count(*) FROM scope) AS levels,
        coalesce((SELECT jsonb_agg(to_jsonb(found)) FROM found), '[]') AS found
    """
)
_RECORD = text(
    """
    INSERT INTO reconciliation_discrepancies (run_id, level_id, product_id, warehouse_id,
        bucket, basis, recorded, expected)
    SELECT :run_id, r.* FROM jsonb_to_recordset(CAST(:found AS jsonb)) AS r(level_id bigint,
        product_id bigint, warehouse_id bigint, bucket text, basis text, recorded bigint,
        expected bigint)
    """
)
_START = text(
    """
    INSERT INTO reconciliation_runs (warehouse_id, product_id, trigger, actor, repair)
    VALUES (:warehouse_id, :product_id, :trigger, :actor, :repair) RETURNING id
    """
)
_SUPERSEDE = text(
    """
    UPDATE reconciliation_discrepancies SET status = 'SUPERSEDED'
    WHERE status = 'OPEN' AND run_id <> :run_id
      AND (CAST(:warehouse_id AS bigint) IS NULL OR warehouse_id = :warehouse_id)
      AND (CAST(:product_id AS bigint) IS NULL OR product_id = :product_id)
    """
)
_FINISH = text(
    """
    UPDATE reconciliation_runs SET levels_checked = :levels, discrepancy_count = :found,
        finished_at = clock_timestamp()
    WHERE id = :run_id RETURNING *
    """
)


async def reconcile(
    conn: AsyncConnection,
    warehouse: Ref | None,
    actor: str,
    trigger: Trigger = Trigger.MANUAL,
    repair_mode: RepairMode | None = None,
    repair_scope: RepairScope = RepairScope.EVERY_BUCKET,
    product: Ref | None = None,
) -> Run:
    """Check the levels of one warehouse (or all), of one product (or all), store and return
    the run; with a `repair_mode`, work out (and, APPLIED, write) the repairs of what it
    found."""
    warehouse_id = await resolve_warehouse(conn, warehouse) if warehouse is not None else None
    product_id = await resolve_product(conn, product) if product is not None else None
    scope = {"warehouse_id": warehouse_id, "product_id": product_id}
    if repair_mode == RepairMode.APPLIED:
        await lock_for_repairs(conn)
    # The check reads first and writes nothing: until its first write this transaction has no
    # id, so the long scan holds back no one's events (the relay waits for running writers).
    checked = (await conn.execute(_CHECK, scope)).one()
    run_id = (
        await conn.execute(
            _START,
            {
                **scope,
                "trigger": str(trigger),
                "actor": actor,
                "repair": str(repair_mode) if repair_mode else None,
            },
        )
    ).scalar_one()
    if checked.found:
        await conn.execute(_RECORD, {"run_id": run_id, "found": json.dumps(checked.found)})
    await conn.execute(_SUPERSEDE, {**scope, "run_id": run_id})
    if repair_mode is not None:
        await repair(conn, run_id, checked.found, repair_mode, repair_scope, actor)
    row = (
        await conn.execute(
            _FINISH,
            {"run_id": run_id, "levels": checked.levels, "found": len(checked.found)},
        )
    ).one()
    run = Run.from_row(row)
    await append(
        conn,
        [
            Event(
                Topic.RECONCILIATION_COMPLETED,
                {
                    "runId": run.id,
                    "warehouseId": run.warehouse_id,
                    "productId": run.product_id,
                    "trigger": str(run.trigger),
                    "levelsChecked": run.levels_checked,
                    "discrepancyCount": run.discrepancy_count,
                    "repair": str(run.repair) if run.repair else None,
                    "actor": actor,
                },
                warehouse_id=run.warehouse_id,
                product_id=run.product_id,
            )
        ],
    )
    return run


def run_listing(trigger: Trigger | None = None) -> Listing:
    query = select(reconciliation_runs)
    if trigger is not None:
        query = query.where(reconciliation_runs.c.trigger == str(trigger))
    return Listing(query, reconciliation_runs.c.id, descending=True)


def discrepancy_listing(
    run_id: int | None = None, open_only: bool = False, warehouse_id: int | None = None
) -> Listing:
    d = reconciliation_discrepancies.c
    query = select(reconciliation_discrepancies)
    if run_id is not None:
        query = query.where(d.run_id == run_id)
    if open_only:
        query = query.where(d.status == "OPEN")
    if warehouse_id is not None:
        query = query.where(d.warehouse_id == warehouse_id)
    return Listing(query, d.id)


async def latest_runs(conn: AsyncConnection, limit: int) -> list[Run]:
    rows = await conn.execute(
        select(reconciliation_runs).order_by(reconciliation_runs.c.id.desc()).limit(limit)
    )
    return [Run.from_row(row) for row in rows]


async def runs_by_ids(conn: AsyncConnection, run_ids: Sequence[int]) -> dict[int, Run]:
    rows = await conn.execute(
        select(reconciliation_runs).where(reconciliation_runs.c.id.in_(run_ids))
    )
    return {row.id: Run.from_row(row) for row in rows}
