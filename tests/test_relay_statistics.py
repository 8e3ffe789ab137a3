"""A slow full batch makes the relay analyze the outbox (stale statistics after a bulk write
send its statement down the wrong plan: db/statistics.py), once a minute at most."""

from __future__ import annotations

import asyncio
from typing import Any

from broadcaster import Broadcast
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db import statistics
from onhand.db.engine import create_engine
from onhand.events import relay
from support.waiting import until


async def add_events(engine: AsyncEngine, count: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (topic, payload) SELECT 'INVENTORY_UPDATED',"
                " jsonb_build_object('n', s) FROM generate_series(1, :n) s"
            ),
            {"n": count},
        )


async def analyses(engine: AsyncEngine) -> int:
    """Analyses by hand (autovacuum's are counted apart) of the newest outbox partition."""
    async with engine.connect() as conn:
        partition = (
            await conn.execute(
                text("SELECT tableoid::regclass::text FROM outbox ORDER BY id DESC LIMIT 1")
            )
        ).scalar_one()
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        found = await conn.execute(
            text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :name"),
            {"name": partition},
        )
        return int(found.scalar_one())


async def test_a_slow_full_batch_analyzes_the_outbox_once_a_minute_at_most(
    fresh_database: str, monkeypatch: Any
) -> None:
    # Every batch counts as slow here; what is slow on a real backlog is measured in
    # BENCHMARKS.md (CSV import).
    monkeypatch.setattr(relay, "SLOW_BATCH_SECONDS", 0.0)
    engine = create_engine(fresh_database)
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    try:
        publisher = relay.Relay(engine, broadcast, fresh_database, channel="statistics")
        # A batch short of full is the end of a backlog, however long it took.
        await add_events(engine, relay.BATCH - 1)
        assert await publisher.publish_pending() == relay.BATCH - 1
        assert not statistics._RUNNING
        await add_events(engine, 2 * relay.BATCH)
        before = await analyses(engine)
        assert await publisher.publish_pending() == relay.BATCH
        assert statistics._RUNNING  # started in the background, at once
        await asyncio.gather(*statistics._RUNNING)

        async def analyzed() -> bool:
            return await analyses(engine) == before + 1

        # Another backend's statistics reach this one within seconds.
        await until(analyzed, "the outbox analyzed", seconds=15)
        # Another slow full batch within the minute: no second analysis.
        assert await publisher.publish_pending() == relay.BATCH
        assert not statistics._RUNNING
    finally:
        await broadcast.disconnect()
        await engine.dispose()
