"""Two relays publishing at once (a leader whose lock connection died while its pass was in
flight, and the process that took the lock over) still number every event once, with no gap:
a reader resuming after any sequence gets each event exactly once, and is never told that
events were lost when none were."""

from __future__ import annotations

import asyncio

from broadcaster import Broadcast
from sqlalchemy import text

from onhand.db.engine import create_engine
from onhand.events import relay
from onhand.events.store import latest_sequence, lost_after

ROUNDS = 20
EVENTS_A_ROUND = 40


async def test_two_relays_at_once_number_each_event_once_without_gaps(
    fresh_database: str,
) -> None:
    engine = create_engine(fresh_database)
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    relays = [relay.Relay(engine, broadcast, fresh_database, channel="overlap") for _ in range(2)]
    published = 0
    try:
        for _ in range(ROUNDS):
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO outbox (topic, warehouse_id, payload)"
                        " SELECT 'INVENTORY_UPDATED', g, CAST('{}' AS json)"
                        " FROM generate_series(1, :n) g"
                    ),
                    {"n": EVENTS_A_ROUND},
                )
            while True:
                counts = await asyncio.gather(*(r.publish_pending() for r in relays))
                published += sum(counts)
                if not any(counts):
                    break
        async with engine.connect() as conn:
            sequences = (
                (await conn.execute(text("SELECT sequence FROM outbox ORDER BY sequence")))
                .scalars()
                .all()
            )
            newest = await latest_sequence(conn)
            told_lost = [after for after in range(newest) if await lost_after(conn, after)]
    finally:
        await broadcast.disconnect()
        await engine.dispose()
    events = ROUNDS * EVENTS_A_ROUND
    assert published == events  # each event went out once, whichever relay took it
    assert sequences == list(range(1, events + 1))  # numbered once each, no gap
    assert newest == events
    assert told_lost == []
