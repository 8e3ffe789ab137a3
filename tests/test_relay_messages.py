"""What the relay broadcasts carries each event's stored payload text as it is, never decoded
and encoded again: a process receiving the message must read exactly the events the outbox
holds, whatever their payloads contain."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from broadcaster import Broadcast
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db.engine import create_engine
from onhand.events import relay
from onhand.events.envelope import MAX_INLINE_BYTES, Published, decode_batch, encode_rows
from onhand.events.store import events_after

AWKWARD_PAYLOADS: list[Any] = [
    {"quote": 'a "quoted" word', "backslash": "C:\\stock\\new", "newline": "one\ntwo"},
    {"unicode": "Crème brûlée 🍮 東京", "escaped": "a literal \\u00e9"},
    {"nested": {"before": {"on_hand": 0}, "after": {"on_hand": -3}}, "list": [1, 2.5, None]},
    {"big": 2**53 + 1, "small": -1e-7, "flag": True, "nothing": None},
    [],
    "a bare string",
]


async def add_events(engine: AsyncEngine, payloads: list[Any], **subjects: int | None) -> None:
    async with engine.begin() as conn:
        for payload in payloads:
            await conn.execute(
                text(
                    "INSERT INTO outbox (topic, product_id, warehouse_id, channel_id, payload)"
                    " VALUES ('INVENTORY_UPDATED', :product, :warehouse, :channel,"
                    " CAST(:payload AS json))"
                ),
                {"payload": json.dumps(payload), **subjects},
            )


async def relayed(fresh_database: str, payloads: list[Any], **subjects: int | None) -> Any:
    """The messages the relay broadcasts for `payloads`, and the events the outbox then holds."""
    engine = create_engine(fresh_database)
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    try:
        await add_events(engine, payloads, **subjects)
        publisher = relay.Relay(engine, broadcast, fresh_database, channel="messages")
        async with broadcast.subscribe("messages") as subscriber:
            published = await publisher.publish_pending()
            messages = [(await subscriber.get()).message]
            while sum(len(decode_batch(m)[0]) or _span(m) for m in messages) < published:
                messages.append((await subscriber.get()).message)
        async with engine.connect() as conn:
            stored = await events_after(conn, 0, 10_000)
        return messages, stored
    finally:
        await broadcast.disconnect()
        await engine.dispose()


def _span(message: str) -> int:
    span = decode_batch(message)[1]
    return 0 if span is None else span[1] - span[0] + 1


async def test_a_message_carries_every_event_as_the_outbox_holds_it(fresh_database: str) -> None:
    messages, stored = await relayed(
        fresh_database, AWKWARD_PAYLOADS, product=None, warehouse=7, channel=None
    )
    assert len(messages) == 1
    received, span = decode_batch(messages[0])
    assert span is None
    assert received == stored
    assert [e.payload for e in received] == AWKWARD_PAYLOADS
    assert [e.sequence for e in received] == list(range(1, len(AWKWARD_PAYLOADS) + 1))
    assert {(e.product_id, e.warehouse_id, e.channel_id) for e in received} == {(None, 7, None)}
    assert all(isinstance(e, Published) and e.created_at.tzinfo for e in received)


async def test_events_too_large_to_carry_go_as_their_range(fresh_database: str) -> None:
    payloads = [{"n": n, "note": "x" * 300} for n in range(40)]
    messages, stored = await relayed(fresh_database, payloads, product=1, warehouse=2, channel=3)
    spans = [decode_batch(m)[1] for m in messages]
    assert spans == [(1, 40)]
    assert [e.payload for e in stored] == payloads
    assert len(messages[0]) < MAX_INLINE_BYTES


def test_a_message_is_inline_up_to_the_limit_and_a_range_past_it() -> None:
    created = datetime(2026, 12, 5, tzinfo=UTC)

    def rows(note: int) -> list[SimpleNamespace]:
        return [
            SimpleNamespace(
                sequence=n, topic="INVENTORY_UPDATED",
                payload_text=json.dumps({"note": "x" * note}), product_id=1,
                warehouse_id=None, channel_id=None, created_at=created,
            )
            for n in (1, 2)
        ]  # fmt: skip

    short = encode_rows(rows(0))
    # Each of the two events grows by the same note: the message reaches the limit exactly.
    fits = (MAX_INLINE_BYTES - len(short)) // 2
    assert (MAX_INLINE_BYTES - len(short)) % 2 == 0
    at_limit = encode_rows(rows(fits))
    assert len(at_limit) == MAX_INLINE_BYTES
    assert [e.payload for e in decode_batch(at_limit)[0]] == [{"note": "x" * fits}] * 2
    assert decode_batch(encode_rows(rows(fits + 1))) == ([], (1, 2))
