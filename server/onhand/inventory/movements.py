"""Reading the ledger: the audit trail of every change, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.pagination import Listing
from onhand.core.records import LedgerEntry
from onhand.db.tables import inventory_movements


@dataclass(frozen=True)
class MovementFilter:
    product_id: int | None = None
    warehouse_id: int | None = None
    level_id: int | None = None
    types: Sequence[str] = field(default_factory=tuple)
    sources: Sequence[str] = field(default_factory=tuple)
    reference_id: str | None = None
    channel_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def movement_listing(filters: MovementFilter) -> Listing:
    mv = inventory_movements.c
    query = select(inventory_movements)
    if filters.product_id is not None:
        query = query.where(mv.product_id == filters.product_id)
    if filters.warehouse_id is not None:
        query = query.where(mv.warehouse_id == filters.warehouse_id)
    if filters.level_id is not None:
        query = query.where(mv.level_id == filters.level_id)
    if filters.types:
        query = query.where(mv.type.in_(filters.types))
    if filters.sources:
        query = query.where(mv.source.in_(filters.sources))
    if filters.reference_id is not None:
        query = query.where(mv.reference_id == filters.reference_id)
    if filters.channel_id is not None:
        query = query.where(mv.channel_id == filters.channel_id)
    # The date range is on the recorded time: what the ledger saw, in the order it saw it.
    if filters.since is not None:
        query = query.where(mv.recorded_at >= filters.since)
    if filters.until is not None:
        query = query.where(mv.recorded_at < filters.until)
    return Listing(query, mv.id, descending=True)


async def movements_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, LedgerEntry]:
    rows = await conn.execute(select(inventory_movements).where(inventory_movements.c.id.in_(ids)))
    return {row.id: LedgerEntry.from_row(row) for row in rows}
