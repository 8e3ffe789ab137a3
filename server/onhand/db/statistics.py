"""Planner statistics brought up to date after a bulk write.

Statistics taken before a large import say, among others, that almost no outbox event is
unpublished: the relay's statement then reads its batch through the wrong index and sorts the
whole backlog, 100-400 ms a batch instead of about 10 (BENCHMARKS.md, CSV import). Autovacuum
would analyze the tables too, but a minute or more later, while the backlog drains. A writer
that just wrote many rows analyzes what it wrote at once (the import), and the relay analyzes
the outbox when a full batch is slow (any other bulk writer: the sweeper, a script).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.db.partitions import PARTITIONED

log = logging.getLogger(__name__)
# Analyses under way (a task the loop holds only weakly could be collected half-way).
_RUNNING: set[asyncio.Task[None]] = set()
# Rows written below which a bulk write leaves statistics to autovacuum: analyzing samples a
# fixed number of rows (a few hundred milliseconds), worth it only when the write was large.
BULK_ROWS = 10_000


async def analyze_written(conn: AsyncConnection, tables: Sequence[str]) -> list[str]:
    """ANALYZE `tables`, each partitioned one by the partition holding its newest row (where
    a bulk write just went; the older months are as they were). Returns what was analyzed."""
    names: list[str] = []
    for table in tables:
        if table not in PARTITIONED:
            names.append(table)
            continue
        newest = (
            await conn.execute(
                text(f"SELECT tableoid::regclass::text FROM {table} ORDER BY id DESC LIMIT 1")
            )
        ).scalar()
        if newest is not None:
            names.append(newest)
    if names:
        await conn.execute(text(f"ANALYZE {', '.join(names)}"))
    return names


def analyze_soon(engine: AsyncEngine, tables: Sequence[str]) -> None:
    """Analyze `tables` (as analyze_written does) in the background: the bulk write is done
    and answered; a failure here only leaves the statistics to autovacuum."""

    async def analyze() -> None:
        try:
            async with engine.connect() as conn:
                await analyze_written(conn, tables)
                await conn.commit()
        except Exception:
            log.warning("could not analyze %s after a bulk write", ", ".join(tables), exc_info=True)

    task = asyncio.get_running_loop().create_task(analyze(), name="onhand-analyze")
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
