"""The outbox's unique index on sequences leaves out unpublished events (migration 0024): it
still refuses a sequence given twice, and the readers' queries by sequence still use it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

# The shapes events are read in by sequence (events/store.py, channels/feed.py), each as a
# generic plan: a parameter's value must not be what lets the planner use the index.
READS = {
    "after a cursor": "SELECT * FROM outbox WHERE sequence > $1 ORDER BY sequence LIMIT 100",
    "within a range": "SELECT * FROM outbox WHERE sequence > $1 AND sequence <= $1 + 10",
    "the oldest kept": "SELECT min(sequence) FROM outbox WHERE $1 >= 0",
}


async def add_events(engine: AsyncEngine, count: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (topic, payload) SELECT 'INVENTORY_UPDATED',"
                " json_build_object('n', s) FROM generate_series(1, :n) s"
            ),
            {"n": count},
        )


async def test_unpublished_events_are_left_out_and_a_sequence_is_given_once(
    engine: AsyncEngine,
) -> None:
    await add_events(engine, 20)
    async with engine.begin() as conn:
        # Numbered as the relay numbers them: one transaction, one created_at for all.
        await conn.execute(
            text(
                "UPDATE outbox o SET sequence = n.position FROM (SELECT id,"
                " row_number() OVER (ORDER BY id) AS position FROM outbox) n WHERE o.id = n.id"
            )
        )
    await add_events(engine, 5)
    async with engine.connect() as conn:
        partition = (
            await conn.execute(text("SELECT tableoid::regclass::text FROM outbox LIMIT 1"))
        ).scalar_one()
        await conn.execute(text("ANALYZE " + partition))
        # Only plans that can use an index: whether the readers' can use this one.
        await conn.execute(text("SET enable_seqscan = off"))
        await conn.execute(text("SET enable_bitmapscan = off"))
        await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        for name, query in READS.items():
            await conn.execute(text(f"PREPARE read_by_sequence(bigint) AS {query}"))
            plan = "\n".join(
                row[0] for row in await conn.execute(text("EXPLAIN EXECUTE read_by_sequence(3)"))
            )
            await conn.execute(text("DEALLOCATE read_by_sequence"))
            assert "sequence_created_at_idx" in plan, f"{name}:\n{plan}"
        definition = (
            await conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_outbox_sequence'")
            )
        ).scalar_one()
        assert definition.endswith("WHERE (sequence IS NOT NULL)")
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE outbox SET sequence = 1 WHERE sequence = 2"))
