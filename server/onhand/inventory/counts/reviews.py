"""The review queue of cycle counts: lines whose difference was beyond the threshold.

Approving applies the difference found at count time (counted - system then, dated at the
count's moment when it gave one) as a
CYCLE_COUNT movement, not "set onHand to counted": units sold or received between the count
and the approval are movements of their own, and setting the old count would silently undo
them. Rejecting changes no stock. Either way the line records who reviewed it and when, and
only a PENDING_REVIEW line may be reviewed (INVALID_TRANSITION otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.db.operation_tables import cycle_count_lines, cycle_counts
from onhand.inventory.counts.cycle_counts import CountLine, LineStatus, count_movement, dated
from onhand.inventory.ledger import ChangeContext, apply_change

_LOCK_LINE = text("SELECT * FROM cycle_count_lines WHERE id = :id FOR UPDATE")
_REVIEW = text(
    """
    UPDATE cycle_count_lines SET status = :status, movement_id = :movement_id,
        reviewed_by = :actor, reviewed_at = now(), review_note = :note,
        version = version + 1, updated_at = now()
    WHERE id = :id RETURNING *
    """
)


async def review_line(
    conn: AsyncConnection, line_id: int, approve: bool, note: str | None, context: ChangeContext
) -> CountLine:
    """Approve (apply the difference found at count time) or reject a line under review."""
    errors = Collector()
    note = check.text(errors, "note", note, max_length=500)
    errors.raise_if_any()
    row = (await conn.execute(_LOCK_LINE, {"id": line_id})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"no cycle count line {line_id}", "id")
    line = CountLine.from_row(row)
    if line.status != LineStatus.PENDING_REVIEW:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"this count line is {line.status}; only PENDING_REVIEW lines can be reviewed",
            "id",
        )
    movement_id = None
    if approve:
        counted_at = (
            await conn.execute(
                select(cycle_counts.c.counted_at).where(cycle_counts.c.id == line.cycle_count_id)
            )
        ).scalar_one()
        [done] = await apply_change(
            conn,
            [
                count_movement(
                    line.product_id, line.warehouse_id, line.difference, line.cycle_count_id, "id"
                )
            ],
            dated(context, counted_at),
        )
        movement_id = done.movement_id
    status = LineStatus.APPROVED if approve else LineStatus.REJECTED
    reviewed = await conn.execute(
        _REVIEW,
        {
            "id": line_id,
            "status": str(status),
            "movement_id": movement_id,
            "actor": context.actor,
            "note": note,
        },
    )
    return CountLine.from_row(reviewed.one())


def review_listing(
    statuses: Sequence[LineStatus] = (LineStatus.PENDING_REVIEW,), warehouse_id: int | None = None
) -> Listing:
    c = cycle_count_lines.c
    query = select(cycle_count_lines)
    if statuses:
        query = query.where(c.status.in_([str(s) for s in statuses]))
    if warehouse_id is not None:
        query = query.where(c.warehouse_id == warehouse_id)
    return Listing(query, c.id)
