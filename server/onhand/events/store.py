"""Reading published events back from the outbox: replays (`after:`), gap filling, polling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.db.event_tables import outbox_cursor, outbox_retention
from onhand.db.tables import outbox
from onhand.events.envelope import Published

_COLUMNS = (
    outbox.c.sequence,
    outbox.c.topic,
    outbox.c.payload,
    outbox.c.product_id,
    outbox.c.warehouse_id,
    outbox.c.channel_id,
    outbox.c.created_at,
)


async def events_after(
    conn: AsyncConnection,
    after: int,
    limit: int,
    *,
    until: int | None = None,
    topics: Sequence[str] = (),
    payloads_of: Sequence[str] | None = None,
) -> list[Published]:
    """Published events with sequence in (after, until], oldest first. `payloads_of`: only
    these topics' events carry their payload (the others' is None), for readers that need
    no more than the subjects of most events: decoding every payload is most of their cost."""
    columns: tuple[ColumnElement[Any], ...] = _COLUMNS
    if payloads_of is not None:
        payload = case((outbox.c.topic.in_(payloads_of), outbox.c.payload)).label("payload")
        columns = tuple(payload if c is outbox.c.payload else c for c in _COLUMNS)
    query = select(*columns).where(outbox.c.sequence > after)
    if until is not None:
        query = query.where(outbox.c.sequence <= until)
    if topics:
        query = query.where(outbox.c.topic.in_(topics))
    rows = await conn.execute(query.order_by(outbox.c.sequence).limit(limit))
    return [Published.from_row(row) for row in rows]


async def latest_sequence(conn: AsyncConnection) -> int:
    """The last sequence given out (0 before the first event)."""
    found = (await conn.execute(select(outbox_cursor.c.last_sequence))).scalar()
    return int(found or 0)


async def oldest_sequence(conn: AsyncConnection) -> int | None:
    """The oldest sequence still kept (older ones have passed the retention period)."""
    found = (await conn.execute(select(func.min(outbox.c.sequence)))).scalar()
    return int(found) if found is not None else None


_DROPPED_THROUGH = select(
    func.coalesce(select(outbox_retention.c.dropped_through).scalar_subquery(), 0)
)


async def lost_after(conn: AsyncConnection, after: int) -> int | None:
    """None when every event after `after` is still kept; else the first sequence a reader
    resuming there can still get (the ones before it passed the retention period)."""
    # Retention drops whole months of the outbox (db/partitions.py). A month may hold a
    # sequence above some kept in the next (an event written just before midnight by a
    # transaction that committed after one written just after it), so the oldest sequence
    # kept alone could hide a gap: below the highest one dropped, a reader may have missed one.
    dropped = int((await conn.execute(_DROPPED_THROUGH)).scalar_one())
    if after < dropped:
        return dropped + 1
    oldest = await oldest_sequence(conn)
    if oldest is not None:
        return oldest if after < oldest - 1 else None
    # Nothing kept at all: only a reader already at the newest event has missed nothing.
    newest = await latest_sequence(conn)
    return newest + 1 if after < newest else None
