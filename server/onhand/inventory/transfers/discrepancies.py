"""Discrepancies of transfer orders: lines closed with fewer units received than shipped.

They are recorded by receiveTransferOrder (receiving.py), with the stock already
written off the destination's `incoming`; here they are read and, once investigated,
resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.db.operation_tables import transfer_discrepancies
from onhand.inventory.transfers.orders import MAX_TEXT, DiscrepancyStatus


async def discrepancies_by_orders(
    conn: AsyncConnection, order_ids: Sequence[int]
) -> dict[int, list[Any]]:
    rows = await conn.execute(
        select(transfer_discrepancies)
        .where(transfer_discrepancies.c.transfer_order_id.in_(order_ids))
        .order_by(transfer_discrepancies.c.id)
    )
    found: dict[int, list[Any]] = {order_id: [] for order_id in order_ids}
    for row in rows.mappings():
        found[row["transfer_order_id"]].append(row)
    return found


def discrepancy_listing(statuses: Sequence[DiscrepancyStatus] = ()) -> Listing:
    d = transfer_discrepancies.c
    query = select(transfer_discrepancies)
    if statuses:
        query = query.where(d.status.in_([str(s) for s in statuses]))
    return Listing(query, d.id)


_RESOLVE = text(
    """
    UPDATE transfer_discrepancies SET status = 'RESOLVED', resolved_at = now(),
        resolved_by = :actor, resolution = :resolution
    WHERE id = :id AND status = 'PENDING_INVESTIGATION'
    RETURNING *
    """
)


async def resolve_discrepancy(
    conn: AsyncConnection, discrepancy_id: int, resolution: str | None, actor: str
) -> Any:
    """Close an investigation (the stock was already written off when the line closed)."""
    errors = Collector()
    resolution = check.text(errors, "resolution", resolution, max_length=MAX_TEXT, required=True)
    errors.raise_if_any()
    row = (
        (
            await conn.execute(
                _RESOLVE, {"id": discrepancy_id, "actor": actor, "resolution": resolution}
            )
        )
        .mappings()
        .first()
    )
    if row is not None:
        return row
    exists = await conn.execute(
        select(transfer_discrepancies.c.id).where(transfer_discrepancies.c.id == discrepancy_id)
    )
    if exists.first() is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"no transfer discrepancy {discrepancy_id}", "id")
    raise DomainError.of(ErrorCode.INVALID_TRANSITION, "this discrepancy is already resolved", "id")
