"""The monthly partitions of the ledger and the outbox (migration 0019): creating the months
ahead, and dropping whole months of the outbox once nobody needs them.

A month's partition is named `<table>_yYYYYmMM` and holds [first of the month, first of the
next) in UTC. Anything outside every month lands in `<table>_default`, so a write never fails
for want of a partition (upkeep stopped for months, say). When that month's partition is made
later, its rows are moved out of the default partition into it in the same transaction
(PostgreSQL refuses a partition whose rows the default partition holds), so that the outbox's
retention can drop them with their month and the default partition stays empty.

Partition DDL takes a brief exclusive lock on the parent. It runs under a short lock_timeout:
writers queued behind its lock request wait at most that long, never for a long transaction
to end; it gives up and is tried again at the next step.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

# Table -> the time column it is partitioned on (now() when a row is written).
PARTITIONED = {"inventory_movements": "recorded_at", "outbox": "created_at"}
LOCK_TIMEOUT = "2s"
_MONTH = re.compile(r"_y(\d{4})m(\d{2})$")


def month_of(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_from(first: date, count: int) -> list[date]:
    months = [month_of(first)]
    while len(months) < count:
        months.append(next_month(months[-1]))
    return months


def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def _start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class MonthPartition:
    month: date
    name: str

    @property
    def start(self) -> datetime:
        return _start(self.month)

    @property
    def end(self) -> datetime:
        return _start(next_month(self.month))


async def month_partitions(conn: AsyncConnection, table: str) -> list[MonthPartition]:
    """The table's monthly partitions, oldest first (the default partition is not one)."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": table},
    )
    found = []
    for (name,) in rows:
        match = _MONTH.search(name)
        if match and name == partition_name(table, date(int(match[1]), int(match[2]), 1)):
            found.append(MonthPartition(date(int(match[1]), int(match[2]), 1), name))
    return sorted(found)


async def _short_lock_wait(conn: AsyncConnection) -> None:
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))


async def create_months(conn: AsyncConnection, table: str, months: Iterable[date]) -> list[str]:
    """Create the partitions of `months` that do not exist yet; returns the names created.
    Idempotent; call it in a transaction that holds the upkeep's advisory lock."""
    column = PARTITIONED[table]
    have = {p.month for p in await month_partitions(conn, table)}
    created = []
    await _short_lock_wait(conn)
    for month in sorted({month_of(m) for m in months} - have):
        start, end = _start(month), _start(next_month(month))
        stranded = (
            await conn.execute(
                text(
                    f"SELECT EXISTS (SELECT 1 FROM {table}_default"
                    f" WHERE {column} >= :start AND {column} < :end)"
                ),
                {"start": start, "end": end},
            )
        ).scalar_one()
        name = partition_name(table, month)
        bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        if stranded:
            await _adopt_from_default(conn, table, name, bounds, start, end)
        else:
            await conn.execute(
                text(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} {bounds}")
            )
        created.append(name)
    return created


# Row triggers that refuse DELETE on a table's partitions (the ledger is append-only). Moving
# rows from the default partition to their month's changes nothing in the books: the same
# rows, byte for byte, in the same table. The trigger is off only inside this transaction.
_DELETE_GUARDS = {"inventory_movements": "inventory_movements_rows_append_only"}


async def _adopt_from_default(
    conn: AsyncConnection, table: str, name: str, bounds: str, start: datetime, end: datetime
) -> None:
    """Make the month's partition out of the rows the default partition holds for it."""
    column = PARTITIONED[table]
    default = f"{table}_default"
    in_month = f"{column} >= :start AND {column} < :end"
    window = {"start": start, "end": end}
    log.warning("%s: moving rows of %s out of %s into %s", table, name[-7:], default, name)
    # Nothing may be routed to the default partition meanwhile: it would be left behind.
    await conn.execute(text(f"LOCK TABLE {default} IN EXCLUSIVE MODE"))
    await conn.execute(
        text(
            f"CREATE TABLE {name} (LIKE {table}"
            " INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION)"
        )
    )
    await conn.execute(text(f"INSERT INTO {name} SELECT * FROM {default} WHERE {in_month}"), window)
    guard = _DELETE_GUARDS.get(table)
    if guard:
        await conn.execute(text(f"ALTER TABLE {default} DISABLE TRIGGER {guard}"))
    await conn.execute(text(f"DELETE FROM {default} WHERE {in_month}"), window)
    if guard:
        await conn.execute(text(f"ALTER TABLE {default} ENABLE TRIGGER {guard}"))
    # Attaching builds the parent's indexes on it and clones its keys and row triggers.
    await conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {name} {bounds}"))


# Every consumer of the outbox that must see each event: the relay (which publishes it), the
# webhook enqueuer and the alert evaluator. A partition is dropped only when its events are
# behind all of them. Channel feeds and `after:` replays are the clients' cursors: one older
# than what is kept is answered CURSOR_EXPIRED (take a new snapshot) instead of holding
# retention back for a client that may never return.
_CONSUMED_THROUGH = text(
    """
    SELECT least(
        (SELECT last_sequence FROM outbox_cursor WHERE id = 1),
        (SELECT last_sequence FROM webhook_cursor WHERE id = 1),
        (SELECT last_sequence FROM alert_cursor WHERE id = 1))
    """
)
_RECORD_DROPPED = text(
    """
    INSERT INTO outbox_retention (id, dropped_through) VALUES (1, :through)
    ON CONFLICT (id) DO UPDATE
    SET dropped_through = greatest(outbox_retention.dropped_through, EXCLUDED.dropped_through)
    """
)


async def drop_expired_outbox(conn: AsyncConnection, retention: timedelta) -> list[str]:
    """Drop the outbox's months that ended more than `retention` ago, oldest first, while
    every event in them is published and behind every consumer; returns the names dropped.
    The highest sequence dropped is kept (outbox_retention), so that a reader resuming at or
    before it learns that it may have missed events (events/store.py)."""
    cutoff = (await conn.execute(text("SELECT now()"))).scalar_one() - retention
    consumed = (await conn.execute(_CONSUMED_THROUGH)).scalar()
    dropped: list[str] = []
    await _short_lock_wait(conn)
    for partition in await month_partitions(conn, "outbox"):
        if partition.end > cutoff:
            break
        unpublished, highest = (
            await conn.execute(
                text(
                    f"SELECT EXISTS (SELECT 1 FROM {partition.name} WHERE sequence IS NULL),"
                    f" (SELECT max(sequence) FROM {partition.name})"
                )
            )
        ).one()
        if unpublished or (highest is not None and (consumed is None or highest > consumed)):
            break  # newer months wait too: what is kept stays one unbroken run of sequences
        if highest is not None:
            await conn.execute(_RECORD_DROPPED, {"through": highest})
        await conn.execute(text(f"DROP TABLE {partition.name}"))
        dropped.append(partition.name)
    return dropped
