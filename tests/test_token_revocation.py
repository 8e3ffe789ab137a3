"""A revoked token loses its open WebSockets too: they are closed (4403) once the token
cache forgets it, and nothing sent on them after that runs. Tokens are revoked with the
function `onhand token revoke` calls, against a server that caches token lookups briefly; and
with the command itself, against two `onhand serve` processes caching them for the default
10 s, which hear of the revocation at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.exceptions import ConnectionClosed

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token, revoke_token
from onhand.config import Settings
from onhand.db.engine import create_engine
from support import factories
from support.client import Client
from support.processes import onhand_server
from support.server import running_server
from support.tokens import succeeded
from support.waiting import until
from support.ws import Subscriber

CACHE_SECONDS = 0.5
# The cache's time, the check of open sockets every second, and room for a busy machine.
CLOSED_WITHIN = CACHE_SECONDS + 1 + 3

UPDATED = """
subscription($skus: [String!]) {
  inventoryUpdated(skus: $skus) { newQuantity }
}"""
ADJUST = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) { inventoryLevel { quantity } errors { code message } }
}"""


@pytest_asyncio.fixture
async def short_cache(settings: Settings, database_url: str) -> AsyncIterator[str]:
    """A second server on the test database that caches token lookups for half a second."""
    short = settings.model_copy(update={"token_cache_seconds": CACHE_SECONDS})
    with running_server(short, database_url) as url:
        yield url


@pytest_asyncio.fixture
async def short_cache_http(short_cache: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=short_cache, timeout=30) as client:
        yield client


async def new_operator(engine: AsyncEngine) -> tuple[str, str]:
    name = f"revocable-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        return name, (await create_token(conn, name, Role.OPERATOR)).secret


async def revoke(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        assert await revoke_token(conn, name)


async def close_code(subscriber: Subscriber, seconds: float) -> int | None:
    """How the server closes the socket, once it does (failing on any message before)."""
    try:
        message = await asyncio.wait_for(subscriber.socket.recv(), seconds)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    raise AssertionError(f"a message on a revoked token's socket: {message}")


def adjustment(sku: str, delta: int) -> dict[str, Any]:
    return {
        "input": {"sku": sku, "warehouseCode": "DC-1", "adjustment": delta, "reason": "RECEIPT"}
    }


async def quantity(admin: Client, sku: str) -> int:
    found = await admin(
        'query($s: String!) { inventoryLevel(sku: $s, warehouseCode: "DC-1") { quantity } }',
        {"s": sku},
    )
    return int(found["inventoryLevel"]["quantity"])


async def test_revoking_a_token_closes_its_streaming_sockets(
    short_cache: str,
    short_cache_http: httpx.AsyncClient,
    engine: AsyncEngine,
    tokens: dict[Role, str],
) -> None:
    admin = Client(short_cache_http, tokens[Role.ADMIN])
    await factories.stocked(admin, "REVOKE-1", {"DC-1": 0})
    name, secret = await new_operator(engine)
    async with (
        Subscriber(short_cache, secret) as by_payload,
        Subscriber(short_cache, secret, in_header=True) as by_header,
        Subscriber(short_cache, tokens[Role.STOREFRONT]) as bystander,
    ):
        for subscriber in (by_payload, by_header, bystander):
            await subscriber.subscribe(UPDATED, {"skus": ["REVOKE-1"]})
        await admin.mutate("adjustInventory", ADJUST, adjustment("REVOKE-1", 1))
        for subscriber in (by_payload, by_header, bystander):
            assert (await subscriber.next())["data"]["inventoryUpdated"]["newQuantity"] == 1

        await revoke(engine, name)
        revoked_at = time.monotonic()
        codes = await asyncio.gather(
            close_code(by_payload, CLOSED_WITHIN), close_code(by_header, CLOSED_WITHIN)
        )
        took = time.monotonic() - revoked_at
        assert codes == [4403, 4403]
        assert took < CLOSED_WITHIN

        # Another token's socket is untouched.
        await admin.mutate("adjustInventory", ADJUST, adjustment("REVOKE-1", 2))
        assert (await bystander.next())["data"]["inventoryUpdated"]["newQuantity"] == 1 + 2


async def test_nothing_sent_on_a_revoked_tokens_socket_runs(
    short_cache: str,
    short_cache_http: httpx.AsyncClient,
    engine: AsyncEngine,
    tokens: dict[Role, str],
) -> None:
    admin = Client(short_cache_http, tokens[Role.ADMIN])
    await factories.stocked(admin, "REVOKE-2", {"DC-1": 5})
    name, secret = await new_operator(engine)
    async with (
        Subscriber(short_cache, secret) as subscribing,
        Subscriber(short_cache, secret) as adjusting,
    ):
        await revoke(engine, name)
        # The server's token cache has forgotten the token once HTTP requests are refused.
        operator = Client(short_cache_http, secret)
        deadline = time.monotonic() + CLOSED_WITHIN
        while (await operator.post("{ viewer { name } }")).status_code != 401:
            assert time.monotonic() < deadline, "the revoked token still works over HTTP"
            await asyncio.sleep(0.05)

        with contextlib.suppress(ConnectionClosed):  # the periodic check may be first
            await subscribing.start(UPDATED, {"skus": ["REVOKE-2"]})
            await adjusting.start(ADJUST, adjustment("REVOKE-2", 7))
        codes = await asyncio.gather(
            close_code(subscribing, CLOSED_WITHIN), close_code(adjusting, CLOSED_WITHIN)
        )
    assert codes == [4403, 4403]
    assert await quantity(admin, "REVOKE-2") == 5


# Far below the 10 s the servers cache a token for: they are told at commit.
ACROSS_PROCESSES_WITHIN = 1.5


@pytest.mark.slow
async def test_a_revocation_reaches_every_server_process_within_a_second(
    fresh_database: str,
) -> None:
    engine = create_engine(fresh_database)
    try:
        name, secret = await new_operator(engine)
        _, bystander = await new_operator(engine)
    finally:
        await engine.dispose()
    with onhand_server(fresh_database) as first, onhand_server(fresh_database) as second:
        async with (
            httpx.AsyncClient(base_url=first, timeout=30) as one,
            httpx.AsyncClient(base_url=second, timeout=30) as other,
        ):
            viewer = "{ viewer { name } }"
            for http in (one, other):  # each server has now cached the token
                assert (await Client(http, secret)(viewer))["viewer"] == {"name": name}
            async with Subscriber(second, secret) as subscriber:
                await subscriber.subscribe(UPDATED, {"skus": ["ANY-1"]})

                await succeeded(fresh_database, "revoke", name)
                revoked_at = time.monotonic()

                async def refused_by_both() -> bool:
                    statuses = [
                        (await Client(http, secret).post(viewer)).status_code
                        for http in (one, other)
                    ]
                    return statuses == [401, 401]

                await until(
                    refused_by_both,
                    "both servers refuse the revoked token",
                    seconds=ACROSS_PROCESSES_WITHIN,
                )
                left = ACROSS_PROCESSES_WITHIN - (time.monotonic() - revoked_at)
                assert await close_code(subscriber, max(left, 0.1)) == 4403
            for http in (one, other):
                assert (await Client(http, bystander).post(viewer)).status_code == 200
