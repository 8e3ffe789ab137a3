"""Redis restarted under running servers: each server's broadcast listener reconnects and
subscribes again, and subscribers on another process go on receiving with nothing missed."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db.engine import create_engine
from support import factories
from support.client import Client
from support.factories import adjust
from support.processes import onhand_server
from support.redis_server import REDIS_SERVER, private_redis
from support.ws import UPDATED, Subscriber

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
]


def wait_for_subscribers(count: int, read: object, seconds: float = 15) -> int:
    deadline = time.monotonic() + seconds
    while True:
        found = read()  # type: ignore[operator]
        if found >= count or time.monotonic() > deadline:
            return int(found)
        time.sleep(0.1)


async def test_servers_subscribe_again_after_redis_restarts(fresh_database: str) -> None:
    engine = create_engine(fresh_database)
    async with engine.begin() as conn:
        token = (await create_token(conn, "redis-restart", Role.ADMIN)).secret
    await engine.dispose()
    channel = f"onhand.test.{uuid.uuid4().hex}"
    with private_redis() as server:
        env = {
            "ONHAND_BROADCAST_URL": server.url,
            "ONHAND_BROADCAST_CHANNEL": channel,
            # No polling of the outbox: an event arrives in time only through Redis.
            "ONHAND_EVENT_POLL_SECONDS": "60",
        }
        with (
            onhand_server(fresh_database, **env) as first,
            onhand_server(fresh_database, **env) as second,
        ):
            assert wait_for_subscribers(2, lambda: server.subscribers(channel)) == 2
            async with httpx.AsyncClient(base_url=first, timeout=30) as http:
                writer = Client(http, token)
                await factories.stocked(writer, "RESTART-1", {"DC-1": 1})
                async with Subscriber(second, token) as subscriber:
                    await subscriber.subscribe(UPDATED, {"skus": ["RESTART-1"]})
                    await adjust(writer, "RESTART-1", "DC-1", 1)
                    heard = [(await subscriber.next(seconds=5))["data"]["inventoryUpdated"]]
                    if heard[0]["newQuantity"] == 1:  # the creation, published late
                        heard.append((await subscriber.next(seconds=5))["data"]["inventoryUpdated"])
                    assert heard[-1]["newQuantity"] == 2

                    server.kill()
                    # Written while Redis is away: published to nobody, kept in the outbox.
                    await adjust(writer, "RESTART-1", "DC-1", 1)
                    server.start()
                    assert wait_for_subscribers(2, lambda: server.subscribers(channel)) == 2
                    await adjust(writer, "RESTART-1", "DC-1", 1)

                    # Both changes arrive, in order, well before the 60 s outbox poll.
                    started = time.monotonic()
                    after = [
                        (await subscriber.next(seconds=10))["data"]["inventoryUpdated"][
                            "newQuantity"
                        ]
                        for _ in range(2)
                    ]
                    assert after == [3, 4]
                    assert time.monotonic() - started < 10
