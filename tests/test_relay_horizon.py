"""The relay publishes an event once no older transaction still running could write one before
it; only this database's transactions can, so another database's on the same server never
holds the events back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.db.engine import plain_url
from support import factories
from support.client import Client
from support.database import published
from support.factories import adjust
from support.ws import UPDATED, Subscriber


@contextlib.asynccontextmanager
async def writing_transaction(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that has written (it holds a transaction id) and stays open."""
    conn = await asyncpg.connect(plain_url(url))
    transaction = conn.transaction()
    await transaction.start()
    await conn.fetchval("SELECT pg_current_xact_id()")
    try:
        yield conn
    finally:
        await transaction.rollback()
        await conn.close()


@pytest_asyncio.fixture
async def elsewhere(database_server: str) -> AsyncIterator[asyncpg.Connection]:
    """A long writing transaction in another database on the same server."""
    async with writing_transaction(database_server) as conn:
        yield conn


async def test_a_transaction_in_another_database_does_not_hold_back_the_events(
    admin: Client,
    base_url: str,
    tokens: dict[Role, str],
    engine: AsyncEngine,
    elsewhere: asyncpg.Connection,
) -> None:
    await factories.stocked(admin, "HORIZON-1", {"DC-1": 10})
    await published(engine)
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        await subscriber.subscribe(UPDATED, {"skus": ["HORIZON-1"]})
        await adjust(admin, "HORIZON-1", "DC-1", 5)
        event = (await subscriber.next(seconds=5))["data"]["inventoryUpdated"]
    assert event["newQuantity"] == 15


async def unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = text("SELECT count(*) FROM outbox WHERE sequence IS NULL")
        return int((await conn.execute(query)).scalar_one())


async def test_a_transaction_in_this_database_holds_back_the_events_after_it(
    admin: Client, engine: AsyncEngine, database_url: str
) -> None:
    await factories.stocked(admin, "HORIZON-2", {"DC-1": 10})
    await published(engine)
    async with writing_transaction(database_url):
        await adjust(admin, "HORIZON-2", "DC-1", 5)
        # The relay looks again at least every second (ONHAND_EVENT_POLL_SECONDS).
        await asyncio.sleep(1.5)
        assert await unpublished(engine) == 1
    await published(engine)
    assert await unpublished(engine) == 0
