"""Cycle counts: physical counts compared with the system's onHand.

recordCycleCount locks the counted levels (id order, as the ledger does), so the system
quantity each count is compared with is exact. A difference within the threshold
(ONHAND_CYCLE_COUNT_THRESHOLD, 5 units by default) is applied at once as a CYCLE_COUNT
movement; a larger one waits for review (PENDING_REVIEW, see reviews.py).

A count made earlier than it is recorded gives `counted_at`: the system quantity is then on
hand as of that moment (as_of.py), so the sales and receipts recorded since are kept, and the
correction is dated at the count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.db.operation_tables import cycle_count_lines, cycle_counts
from onhand.inventory.counts.as_of import lock_levels_as_of
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementType,
    Quantities,
    StockRule,
    apply_change,
)
from onhand.inventory.refs import resolve_products, resolve_warehouse

MAX_COUNTS = 1000


class LineStatus(StrEnum):
    MATCHED = "MATCHED"  # counted what the system had
    APPLIED = "APPLIED"  # within the threshold: applied at once
    PENDING_REVIEW = "PENDING_REVIEW"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class CountLine:
    id: int
    cycle_count_id: int
    product_id: int
    warehouse_id: int
    level_id: int
    counted_quantity: int
    system_quantity: int
    difference: int
    status: LineStatus
    movement_id: int | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> CountLine:
        m = row._mapping if hasattr(row, "_mapping") else row
        values = {f.name: m[f.name] for f in fields(cls)}
        values["status"] = LineStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class CycleCount:
    id: int
    warehouse_id: int
    threshold: int
    reference_id: str | None
    actor: str
    created_at: datetime
    lines: tuple[CountLine, ...]
    counted_at: datetime | None = None


@dataclass(frozen=True)
class Counted:
    product: Ref
    counted_quantity: int


@dataclass(frozen=True)
class RecordCount:
    warehouse: Ref
    counts: tuple[Counted, ...]
    reference_id: str | None = None
    idempotency_key: str | None = None
    # When the stock was counted; None: now.
    counted_at: datetime | None = None


_INSERT_COUNT = text(
    """
    INSERT INTO cycle_counts (warehouse_id, threshold, reference_id, actor, counted_at)
    VALUES (:warehouse_id, :threshold, :reference_id, :actor, :counted_at) RETURNING id
    """
)
_INSERT_LINES = text(
    """
    INSERT INTO cycle_count_lines (cycle_count_id, product_id, warehouse_id, level_id,
        counted_quantity, system_quantity, difference, status, movement_id)
    SELECT :count_id, c.product_id, :warehouse_id, c.level_id, c.counted, c.system,
        c.counted - c.system, c.status, c.movement_id
    FROM unnest(CAST(:product_id AS bigint[]), CAST(:level_id AS bigint[]),
        CAST(:counted AS int[]), CAST(:system AS int[]), CAST(:status AS text[]),
        CAST(:movement_id AS bigint[]))
        WITH ORDINALITY AS c(product_id, level_id, counted, system, status, movement_id, ord)
    ORDER BY c.ord
    """
)


def reference_of(count_id: int) -> str:
    return f"CC-{count_id}"


async def record_cycle_count(
    conn: AsyncConnection, request: RecordCount, context: ChangeContext, threshold: int
) -> CycleCount:
    errors = Collector()
    if not request.counts:
        errors.add(ErrorCode.REQUIRED, "give at least one count", "counts")
    elif len(request.counts) > MAX_COUNTS:
        errors.invalid("counts", f"at most {MAX_COUNTS} counts at once")
    for i, count in enumerate(request.counts):
        check.quantity(errors, f"counts.{i}.countedQuantity", count.counted_quantity)
    reference_id = check.text(errors, "referenceId", request.reference_id, max_length=200)
    counted_at = check.timestamp(errors, "countedAt", request.counted_at)
    claim = claim_for("recordCycleCount", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return (await cycle_counts_by_ids(conn, [replay["id"]]))[replay["id"]]
    warehouse_id = await resolve_warehouse(conn, request.warehouse)
    product_ids = await resolve_products(conn, [c.product for c in request.counts])
    levels, channels_locked = await lock_levels_as_of(conn, warehouse_id, product_ids, counted_at)
    problems: list[Problem] = []
    seen: set[int] = set()
    for count, product_id in zip(request.counts, product_ids, strict=True):
        if product_id in seen:
            problems.append(Problem(ErrorCode.INVALID, "counted twice", count.product.field))
        elif product_id not in levels:
            problems.append(
                Problem(
                    ErrorCode.NOT_FOUND,
                    "this product is not stocked at this warehouse; create its level first",
                    count.product.field,
                )
            )
        seen.add(product_id)
    if problems:
        raise DomainError(*problems)
    count_id = (
        await conn.execute(
            _INSERT_COUNT,
            {
                "warehouse_id": warehouse_id,
                "threshold": threshold,
                "reference_id": reference_id,
                "actor": context.actor,
                "counted_at": counted_at,
            },
        )
    ).scalar_one()
    statuses: list[str] = []
    movements: list[Movement] = []
    applied_at: list[int] = []
    for i, (count, product_id) in enumerate(zip(request.counts, product_ids, strict=True)):
        difference = count.counted_quantity - levels[product_id].on_hand_then
        if difference == 0:
            statuses.append(LineStatus.MATCHED)
        elif abs(difference) <= threshold:
            statuses.append(LineStatus.APPLIED)
            applied_at.append(i)
            movements.append(
                count_movement(product_id, warehouse_id, difference, count_id, f"counts.{i}")
            )
        else:
            statuses.append(LineStatus.PENDING_REVIEW)
    applied = await apply_change(conn, movements, dated(context, counted_at), channels_locked)
    movement_ids: list[int | None] = [None] * len(request.counts)
    for i, done in zip(applied_at, applied, strict=True):
        movement_ids[i] = done.movement_id
    await conn.execute(
        _INSERT_LINES,
        {
            "count_id": count_id,
            "warehouse_id": warehouse_id,
            "product_id": product_ids,
            "level_id": [levels[p].level_id for p in product_ids],
            "counted": [c.counted_quantity for c in request.counts],
            "system": [levels[p].on_hand_then for p in product_ids],
            "status": [str(s) for s in statuses],
            "movement_id": movement_ids,
        },
    )
    await remember(conn, claim, {"id": count_id})
    return (await cycle_counts_by_ids(conn, [count_id]))[count_id]


def dated(context: ChangeContext, counted_at: datetime | None) -> ChangeContext:
    """The change dated at the count's moment, so that a later count as of a later moment
    sees this correction as made before it."""
    if counted_at is None:
        return context
    return replace(context, occurred_at=counted_at)


def count_movement(
    product_id: int, warehouse_id: int, difference: int, count_id: int, where: str
) -> Movement:
    return Movement(
        product_id,
        warehouse_id,
        MovementType.CYCLE_COUNT,
        Quantities(on_hand=difference),
        rule=StockRule.PHYSICAL,
        reason="cycle count",
        reference_id=reference_of(count_id),
        field=f"{where}.countedQuantity" if where.startswith("counts.") else where,
    )


async def cycle_counts_by_ids(
    conn: AsyncConnection, count_ids: Sequence[int]
) -> dict[int, CycleCount]:
    rows = (await conn.execute(select(cycle_counts).where(cycle_counts.c.id.in_(count_ids)))).all()
    lines: dict[int, list[CountLine]] = {row.id: [] for row in rows}
    found = await conn.execute(
        select(cycle_count_lines)
        .where(cycle_count_lines.c.cycle_count_id.in_(count_ids))
        .order_by(cycle_count_lines.c.id)
    )
    for line in found:
        lines[line.cycle_count_id].append(CountLine.from_row(line))
    return {
        row.id: CycleCount(
            id=row.id,
            warehouse_id=row.warehouse_id,
            threshold=row.threshold,
            reference_id=row.reference_id,
            actor=row.actor,
            created_at=row.created_at,
            lines=tuple(lines[row.id]),
            counted_at=row.counted_at,
        )
        for row in rows
    }
