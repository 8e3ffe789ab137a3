"""Events across processes (through Redis) and subscribers that cannot keep up."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db.engine import create_engine
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    apply_change,
)
from support import factories
from support.client import Client
from support.factories import adjust
from support.processes import onhand_server
from support.server import running_server
from support.ws import UPDATED, Subscriber

REDIS_URL = os.environ.get("ONHAND_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.skipif(not redis_answers(), reason=f"no Redis answers at {REDIS_URL}")
async def test_events_cross_processes_through_redis(fresh_database: str) -> None:
    engine = create_engine(fresh_database)
    async with engine.begin() as conn:
        token = (await create_token(conn, "two-process", Role.ADMIN)).secret
    await engine.dispose()
    env = {
        "ONHAND_BROADCAST_URL": REDIS_URL,
        "ONHAND_BROADCAST_CHANNEL": f"onhand.test.{uuid.uuid4().hex}",
        # No polling of the outbox: an event can only arrive through Redis in time.
        "ONHAND_EVENT_POLL_SECONDS": "60",
    }
    with (
        onhand_server(fresh_database, **env) as first,
        onhand_server(fresh_database, **env) as second,
    ):
        async with httpx.AsyncClient(base_url=first, timeout=30) as http:
            writer = Client(http, token)
            await factories.stocked(writer, "REDIS-1", {"DC-1": 1})
            async with Subscriber(second, token) as subscriber:
                await subscriber.subscribe(UPDATED, {"skus": ["REDIS-1"]})
                await adjust(writer, "REDIS-1", "DC-1", 41)
                # The level's creation may be published late (behind another database's
                # writer) and so be news to this subscriber too; the adjustment comes next.
                heard = [(await subscriber.next(seconds=5))["data"]["inventoryUpdated"]]
                if heard[0]["newQuantity"] == 1:
                    heard.append((await subscriber.next(seconds=5))["data"]["inventoryUpdated"])
    assert heard[-1]["newQuantity"] == 42


async def test_a_subscriber_that_falls_behind_is_dropped_with_a_reason(
    settings: Settings,
    database_url: str,
    engine: AsyncEngine,
    admin: Client,
    tokens: dict[Role, str],
) -> None:
    """A socket that stops reading must not make the server hold its messages forever."""
    small = settings.model_copy(update={"subscriber_buffer_events": 20})
    await factories.stocked(admin, "SLOW-0", {"DC-1": 0})
    ids = await _products(engine, 400)
    with running_server(small, database_url) as url:
        async with Subscriber(url, tokens[Role.STOREFRONT]) as subscriber:
            await subscriber.subscribe(UPDATED, {})
            # 400 changes at once, while the subscriber reads nothing.
            async with engine.begin() as conn:
                await apply_change(
                    conn,
                    [
                        Movement(pid, wid, MovementType.RECEIPT, Quantities(on_hand=1))
                        for pid, wid in ids
                    ],
                    ChangeContext(actor="test", source=MovementSource.SYSTEM),
                )
            await asyncio.sleep(1.0)
            received, seen = 0, []
            try:
                while True:
                    message = await subscriber.receive(seconds=5)
                    seen.append(message)
                    if message["type"] == "next" and "errors" not in message["payload"]:
                        received += 1
                    elif message["type"] in ("complete", "error"):
                        break
            except Exception as closed:  # the server closed the socket
                seen.append({"closed": str(closed)})
    # It was told why, and given far fewer than 400 messages: nothing piled up for it.
    assert received < 400
    assert "too slow" in str(seen) or "SUBSCRIBER_TOO_SLOW" in str(seen) or "behind" in str(seen), (
        seen[-3:]
    )


async def _products(engine: AsyncEngine, count: int) -> list[tuple[int, int]]:
    from sqlalchemy import text

    async with engine.begin() as conn:
        warehouse = (
            await conn.execute(text("SELECT id FROM warehouses WHERE code = 'DC-1'"))
        ).scalar_one()
        rows = await conn.execute(
            text(
                "INSERT INTO products (sku, name) SELECT 'SLOW-' || g, 'slow' "
                "FROM generate_series(1, :n) g RETURNING id"
            ),
            {"n": count},
        )
        ids = [row.id for row in rows]
        await conn.execute(
            text(
                "INSERT INTO inventory_levels (product_id, warehouse_id) "
                "SELECT unnest(CAST(:ids AS bigint[])), :w"
            ),
            {"ids": ids, "w": warehouse},
        )
    return [(pid, warehouse) for pid in ids]
