"""Self-healing counts: what reconciliation does about what it found, when asked to repair.

Two repairs, each explained by its reason:

- RECORD_OUTSIDE_CHANGE: a bucket differs from the sum of its ledger deltas, so the level was
  changed outside the ledger. The change is written to the ledger (outside_changes.py): a
  RECONCILIATION row whose delta is the unrecorded change; the level keeps its value. On hand
  in particular is physical, and only a count can say the level is wrong: the repair makes
  the ledger explain it again, and a count (or an adjustment) then corrects the stock itself.
- REBUILD_FROM_RESERVATIONS: `reserved` or `committed` differs from what the active
  reservations (CART and TRANSFER) and orders (ORDER) hold: the level is set to what they
  hold, by a RECONCILIATION movement through the one write path (so an INVENTORY_UPDATED
  event tells every channel), judged by the CORRECTION rule (the truth may be that more is
  held than the level said).

A level changed outside the ledger in reserved (the ledger and the reservations agreeing)
gets both: the change is recorded, then undone by the rebuild, and both rows say so.

A dry run (the default) works the repairs out and stores them with the run, writing nothing
to the levels or the ledger; an applying run writes them in the run's transaction, all or
nothing. Applying runs are serialized (an advisory lock) and the repairs are deltas, which
concurrent changes cannot make wrong: every change moves a level, its ledger and its
reservations together, so the gaps found stay what they were until repaired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.pagination import Listing
from onhand.db.operation_tables import reconciliation_repairs
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    StockRule,
    apply_change,
)
from onhand.inventory.outside_changes import OutsideChange, record_outside_changes

# Taken (for the transaction) by every run that applies repairs, before it checks.
REPAIR_LOCK = 0x6F6E68616E6417
HELD_BUCKETS = ("reserved", "committed")


class RepairMode(StrEnum):
    DRY_RUN = "DRY_RUN"  # worked out and shown, nothing written
    APPLIED = "APPLIED"


class RepairScope(StrEnum):
    EVERY_BUCKET = "EVERY_BUCKET"  # what a person asks for
    HELD_ONLY = "HELD_ONLY"  # reserved and committed: what the schedule may repair alone


class RepairKind(StrEnum):
    RECORD_OUTSIDE_CHANGE = "RECORD_OUTSIDE_CHANGE"
    REBUILD_FROM_RESERVATIONS = "REBUILD_FROM_RESERVATIONS"


@dataclass(frozen=True, slots=True)
class Repair:
    run_id: int
    level_id: int
    product_id: int
    warehouse_id: int
    kind: RepairKind
    bucket: str
    recorded: int
    expected: int
    delta: int  # the ledger delta the repair writes
    reason: str
    applied: bool = False
    movement_id: int | None = None
    id: int | None = None
    created_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Repair:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            run_id=m["run_id"],
            level_id=m["level_id"],
            product_id=m["product_id"],
            warehouse_id=m["warehouse_id"],
            kind=RepairKind(m["kind"]),
            bucket=m["bucket"],
            recorded=m["recorded"],
            expected=m["expected"],
            delta=m["delta"],
            reason=m["reason"],
            applied=m["applied"],
            movement_id=m["movement_id"],
            id=m["id"],
            created_at=m["created_at"],
        )


def _holders(found: Mapping[str, Any]) -> str:
    count = found.get("holders") or 0
    kind = "order reservations" if found["bucket"] == "committed" else "cart and transfer holds"
    return f"{count} active {kind}"


def plan(run_id: int, found: Sequence[Mapping[str, Any]], scope: RepairScope) -> list[Repair]:
    """The repairs of a run's discrepancies (as reconciliation.py stores them), in level,
    then bucket order: what is recorded first, then what is rebuilt."""
    repairs: list[Repair] = []
    for d in found:
        bucket = d["bucket"]
        if scope == RepairScope.HELD_ONLY and bucket not in HELD_BUCKETS:
            continue
        recorded, expected = d["recorded"], d["expected"]
        common = {
            "run_id": run_id,
            "level_id": d["level_id"],
            "product_id": d["product_id"],
            "warehouse_id": d["warehouse_id"],
            "bucket": bucket,
            "recorded": recorded,
            "expected": expected,
        }
        if d["basis"] == "LEDGER":
            change = recorded - expected
            repairs.append(
                Repair(
                    kind=RepairKind.RECORD_OUTSIDE_CHANGE,
                    delta=change,
                    reason=f"reconciliation run {run_id}: {bucket} is {recorded} but the ledger"
                    f" explains {expected}; the {change:+d} made outside the ledger is recorded,"
                    " the level kept",
                    **common,
                )
            )
        else:
            change = expected - recorded
            repairs.append(
                Repair(
                    kind=RepairKind.REBUILD_FROM_RESERVATIONS,
                    delta=change,
                    reason=f"reconciliation run {run_id}: {bucket} is {recorded} but"
                    f" {_holders(d)} hold {expected}; rebuilt from them ({change:+d})",
                    **common,
                )
            )
    order = {RepairKind.RECORD_OUTSIDE_CHANGE: 0, RepairKind.REBUILD_FROM_RESERVATIONS: 1}
    return sorted(repairs, key=lambda r: (r.level_id, order[r.kind], r.bucket))


async def lock_for_repairs(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REPAIR_LOCK})


async def repair(
    conn: AsyncConnection,
    run_id: int,
    found: Sequence[Mapping[str, Any]],
    mode: RepairMode,
    scope: RepairScope,
    actor: str,
) -> list[Repair]:
    """Work out the repairs of what a run found; write them when `mode` is APPLIED. Stored
    with the run either way."""
    planned = plan(run_id, found, scope)
    if mode == RepairMode.APPLIED and planned:
        planned = await _apply(conn, run_id, planned, actor)
    await _store(conn, planned)
    return planned


async def _apply(
    conn: AsyncConnection, run_id: int, planned: list[Repair], actor: str
) -> list[Repair]:
    context = ChangeContext(actor=actor, source=MovementSource.SYSTEM)
    reference = f"RECON-{run_id}"
    recorded: dict[int, list[Repair]] = {}
    rebuilt: dict[int, list[Repair]] = {}
    for r in planned:
        into = recorded if r.kind == RepairKind.RECORD_OUTSIDE_CHANGE else rebuilt
        into.setdefault(r.level_id, []).append(r)
    recorded_rows = await record_outside_changes(
        conn,
        [
            OutsideChange(
                level_id,
                {r.bucket: r.delta for r in repairs},
                "; ".join(r.reason for r in repairs),
            )
            for level_id, repairs in recorded.items()
        ],
        context,
        reference,
    )
    movements = [
        Movement(
            repairs[0].product_id,
            repairs[0].warehouse_id,
            MovementType.RECONCILIATION,
            Quantities(**{r.bucket: r.delta for r in repairs}),
            rule=StockRule.CORRECTION,
            reason="; ".join(r.reason for r in repairs),
            reference_id=reference,
        )
        for repairs in rebuilt.values()
    ]
    applied = await apply_change(conn, movements, context)
    rebuilt_rows = {
        level_id: done.movement_id for level_id, done in zip(rebuilt, applied, strict=True)
    }
    done = [
        _done(r, recorded_rows if r.kind == RepairKind.RECORD_OUTSIDE_CHANGE else rebuilt_rows)
        for r in planned
    ]
    await _mark_repaired(conn, run_id, done)
    await append(conn, _events(run_id, done))
    return done


def _done(r: Repair, movement_ids: Mapping[int, int | None]) -> Repair:
    return replace(r, applied=True, movement_id=movement_ids.get(r.level_id))


_MARK = text(
    """
    UPDATE reconciliation_discrepancies d SET status = 'REPAIRED'
    FROM jsonb_to_recordset(CAST(:repaired AS jsonb)) AS r(level_id bigint, bucket text)
    WHERE d.run_id = :run_id AND d.level_id = r.level_id AND d.bucket = r.bucket
    """
)


async def _mark_repaired(conn: AsyncConnection, run_id: int, done: Sequence[Repair]) -> None:
    repaired = [{"level_id": r.level_id, "bucket": r.bucket} for r in done]
    await conn.execute(_MARK, {"run_id": run_id, "repaired": json.dumps(repaired)})


def _events(run_id: int, done: Sequence[Repair]) -> list[Event]:
    """One RECONCILIATION_REPAIRED event per repaired level."""
    by_level: dict[int, list[Repair]] = {}
    for r in done:
        by_level.setdefault(r.level_id, []).append(r)
    return [
        Event(
            Topic.RECONCILIATION_REPAIRED,
            {
                "runId": run_id,
                "levelId": level_id,
                "productId": repairs[0].product_id,
                "warehouseId": repairs[0].warehouse_id,
                "movementIds": sorted({r.movement_id for r in repairs if r.movement_id}),
                "repairs": [
                    {
                        "kind": str(r.kind),
                        "bucket": r.bucket,
                        "recorded": r.recorded,
                        "expected": r.expected,
                        "delta": r.delta,
                        "reason": r.reason,
                    }
                    for r in repairs
                ],
            },
            product_id=repairs[0].product_id,
            warehouse_id=repairs[0].warehouse_id,
        )
        for level_id, repairs in by_level.items()
    ]


_STORE = text(
    """
    INSERT INTO reconciliation_repairs (run_id, level_id, product_id, warehouse_id, kind,
        bucket, recorded, expected, delta, reason, applied, movement_id)
    SELECT r.* FROM jsonb_to_recordset(CAST(:repairs AS jsonb)) AS r(run_id bigint,
        level_id bigint, product_id bigint, warehouse_id bigint, kind text, bucket text,
        recorded int, expected int, delta int, reason text, applied boolean, movement_id bigint)
    """
)


async def _store(conn: AsyncConnection, repairs: Sequence[Repair]) -> None:
    if not repairs:
        return
    rows = [
        {
            "run_id": r.run_id,
            "level_id": r.level_id,
            "product_id": r.product_id,
            "warehouse_id": r.warehouse_id,
            "kind": str(r.kind),
            "bucket": r.bucket,
            "recorded": r.recorded,
            "expected": r.expected,
            "delta": r.delta,
            "reason": r.reason,
            "applied": r.applied,
            "movement_id": r.movement_id,
        }
        for r in repairs
    ]
    await conn.execute(_STORE, {"repairs": json.dumps(rows)})


def repair_listing(run_id: int) -> Listing:
    return Listing(
        select(reconciliation_repairs).where(reconciliation_repairs.c.run_id == run_id),
        reconciliation_repairs.c.id,
    )
