"""Stored source-system events and source systems: records and listings for the API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.pagination import Listing
from onhand.db.source_event_tables import source_events, source_systems


class SourceEventStatus(StrEnum):
    HELD = "HELD"  # ahead of its source's sequence: waits for the events before it
    APPLIED = "APPLIED"
    FAILED = "FAILED"  # its turn came and the ledger refused it; the sequence moved on


@dataclass(frozen=True, slots=True)
class SourceEvent:
    id: int
    source_system: str
    event_id: str
    sequence: int
    type: str
    status: SourceEventStatus
    product_id: int
    warehouse_id: int
    destination_warehouse_id: int | None
    quantity: int
    occurred_at: datetime | None
    reference_document: str | None
    correlation_id: str | None
    reason: str | None
    actor: str
    errors: list[dict[str, Any]] | None
    movement_ids: list[int] | None
    received_at: datetime
    processed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SourceEvent:
        m = row._mapping if hasattr(row, "_mapping") else row
        values = {f.name: m[f.name] for f in fields(cls)}
        values["status"] = SourceEventStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SourceSystem:
    id: int
    code: str
    last_applied_sequence: int
    held_count: int
    failed_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> SourceSystem:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(**{f.name: m[f.name] for f in fields(cls)})


def _events_query() -> Any:
    return select(source_events, source_systems.c.code.label("source_system")).join(
        source_systems, source_systems.c.id == source_events.c.source_system_id
    )


@dataclass(frozen=True)
class SourceEventFilter:
    source_system: str | None = None
    statuses: Sequence[SourceEventStatus] = ()
    event_id: str | None = None


def source_event_listing(filters: SourceEventFilter) -> Listing:
    """Newest first, as the ledger."""
    e = source_events.c
    query = _events_query()
    if filters.source_system is not None:
        query = query.where(source_systems.c.code == filters.source_system)
    if filters.statuses:
        query = query.where(e.status.in_([str(s) for s in filters.statuses]))
    if filters.event_id is not None:
        query = query.where(e.event_id == filters.event_id)
    return Listing(query, e.id, descending=True)


def _count(status: SourceEventStatus) -> Any:
    e = source_events.c
    return (
        select(func.count())
        .where(e.source_system_id == source_systems.c.id, e.status == str(status))
        .scalar_subquery()
    )


def source_system_listing(code: str | None = None) -> Listing:
    query = select(
        source_systems,
        _count(SourceEventStatus.HELD).label("held_count"),
        _count(SourceEventStatus.FAILED).label("failed_count"),
    )
    if code is not None:
        query = query.where(source_systems.c.code == code)
    return Listing(query, source_systems.c.id)


async def source_events_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, SourceEvent]:
    rows = await conn.execute(_events_query().where(source_events.c.id.in_(ids)))
    return {row.id: SourceEvent.from_row(row) for row in rows}
