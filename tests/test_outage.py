"""A database outage with live subscribers, against a real `onhand serve`: once the database is
back, every background loop carries on, old and new subscribers hear new events, and the events
committed around the outage are not missed."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db.engine import create_engine, plain_url
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
from support.database import published, refusing_connections
from support.factories import adjust
from support.processes import onhand_process
from support.server import running_server
from support.waiting import until
from support.ws import UPDATED, Subscriber

FAILED = re.compile(r"background loop (\S+) failed")
RECOVERED = re.compile(r"background loop (\S+) recovered")
OUTAGE_SECONDS = 3.0


async def receive_one(database_url: str, sku: str, code: str) -> None:
    """A change committed straight to the database, as another server would."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            level = (
                await conn.execute(
                    text(
                        "SELECT l.product_id, l.warehouse_id FROM inventory_levels l"
                        " JOIN products p ON p.id = l.product_id"
                        " JOIN warehouses w ON w.id = l.warehouse_id"
                        " WHERE p.sku = :sku AND w.code = :code"
                    ),
                    {"sku": sku, "code": code},
                )
            ).one()
            await apply_change(
                conn,
                [Movement(*level, MovementType.RECEIPT, Quantities(on_hand=1))],
                ChangeContext(actor="elsewhere", source=MovementSource.SYSTEM),
            )
    finally:
        await engine.dispose()


async def unpublished_changes(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE sequence IS NULL AND topic = 'INVENTORY_UPDATED'"
            )
        )
        return int(waiting.scalar_one())


async def ready(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/readyz", timeout=2)).status_code == 200
    except httpx.HTTPError:
        return False


async def not_ready(http: httpx.AsyncClient) -> bool:
    return not await ready(http)


async def quantities(subscriber: Subscriber, count: int) -> list[int]:
    events = [(await subscriber.next(seconds=20))["data"]["inventoryUpdated"] for _ in range(count)]
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences)), "in order, each once"
    return [event["newQuantity"] for event in events]


@pytest.mark.slow
async def test_subscribers_hear_every_event_after_a_database_outage(
    database_server: str, fresh_database: str
) -> None:
    engine = create_engine(fresh_database)
    async with engine.begin() as conn:
        token = (await create_token(conn, "outage", Role.ADMIN)).secret
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        # The hub looks at the outbox every 0.2 s, so it meets the outage at once.
        onhand = stack.enter_context(
            onhand_process(fresh_database, ONHAND_EVENT_POLL_SECONDS="0.2")
        )

        def said() -> str:
            return onhand.output.text  # the server's log

        http = await stack.enter_async_context(httpx.AsyncClient(base_url=onhand.url, timeout=30))
        writer = Client(http, token)
        await factories.stocked(writer, "OUT-1", {"DC-1": 0})
        await published(engine, seconds=30)
        old = await stack.enter_async_context(Subscriber(onhand.url, token))
        await old.subscribe(UPDATED, {"skus": ["OUT-1"]})
        await adjust(writer, "OUT-1", "DC-1", 1)
        assert await quantities(old, 1) == [1]

        # Committed just before the outage, but held back behind a writer that is still
        # running (events go out in commit order): it is published once the database is back.
        writer_elsewhere = await asyncpg.connect(plain_url(fresh_database))
        await writer_elsewhere.execute("BEGIN; SELECT txid_current()")
        await receive_one(fresh_database, "OUT-1", "DC-1")
        assert await unpublished_changes(engine) == 1
        async with refusing_connections(database_server, fresh_database):
            await until(lambda: not_ready(http), "readyz saw the outage", explain=said)
            # The outage lasts a few seconds: every loop that looks at the database meets
            # it, many times over.
            await asyncio.sleep(OUTAGE_SECONDS)
        writer_elsewhere.terminate()  # its connection was cut by the outage
        await engine.dispose()  # and so were the test's own
        # Committed as soon as the database is back, before the server is.
        await receive_one(fresh_database, "OUT-1", "DC-1")
        await until(lambda: ready(http), "the server was ready again", explain=said)
        assert await quantities(old, 2) == [2, 3]

        async with Subscriber(onhand.url, token) as new:
            await new.subscribe(UPDATED, {"skus": ["OUT-1"]})
            await adjust(writer, "OUT-1", "DC-1", 1)
            assert await quantities(new, 1) == [4]
        assert await quantities(old, 1) == [4]

        def all_recovered() -> bool:
            return set(FAILED.findall(said())) <= set(RECOVERED.findall(said()))

        await until(all_recovered, "every failed loop said it recovered", explain=said)
        assert (await http.get("/readyz")).json() == {"status": "ready"}
        # Each loop said once that it failed, not once per retry.
        failures = Counter(FAILED.findall(said()))
        assert "hub" in failures, said()
        assert max(failures.values()) == 1, said()


async def test_requests_during_an_outage_fail_fast_with_a_coded_unavailable_error(
    database_server: str, fresh_database: str, settings: Settings
) -> None:
    engine = create_engine(fresh_database)
    async with engine.begin() as conn:
        known = (await create_token(conn, "outage-writer", Role.ADMIN)).secret
        unseen = (await create_token(conn, "outage-stranger", Role.ADMIN)).secret
    await engine.dispose()
    with running_server(settings, fresh_database) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            writer = Client(http, known)
            await factories.stocked(writer, "OUT-2", {"DC-1": 1})  # its token is now cached

            async def adjust_one() -> dict[str, Any]:
                adjustment = {"sku": "OUT-2", "warehouseCode": "DC-1", "adjustment": 1}
                return await writer.raw(
                    factories.ADJUST, {"input": {**adjustment, "reason": "RECEIPT"}}
                )

            async with refusing_connections(database_server, fresh_database):
                started = time.monotonic()
                # A write by a token the server knows: the change cannot be made.
                write = await adjust_one()
                # A token it has not checked yet: it cannot be checked.
                stranger = await http.post(
                    "/graphql",
                    json={"query": "{ viewer { name } }"},
                    headers={"Authorization": f"Bearer {unseen}"},
                )
                took = time.monotonic() - started
            assert [e["extensions"]["code"] for e in write["errors"]] == ["UNAVAILABLE"], write
            assert stranger.status_code == 503, stranger.text
            assert stranger.headers["retry-after"] == "1"
            assert stranger.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
            assert took < 10, took

            async def written() -> bool:
                body = await adjust_one()
                return "errors" not in body

            await until(written, "a write once the database is back")
            assert (await Client(http, unseen)("{ viewer { name } }"))["viewer"]["name"] == (
                "outage-stranger"
            )
