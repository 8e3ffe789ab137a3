"""ONHAND_READ_DATABASE_URL: queries read from the replica; mutations (and what their payloads
show), subscriptions and background work use the primary. The "replica" here is a second
database holding other data, so where each read went shows in what comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db.engine import create_engine
from support import database, factories
from support.client import Client
from support.server import running_server


@pytest.fixture
def databases(database_server: str) -> Iterator[tuple[str, str]]:
    primary, replica = database.create(database_server), database.create(database_server)
    yield primary, replica
    database.drop(database_server, primary)
    database.drop(database_server, replica)


async def admin_token(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return (await create_token(conn, "replica-test", Role.ADMIN)).secret
    finally:
        await engine.dispose()


def test_queries_read_the_replica_and_writes_go_to_the_primary(
    databases: tuple[str, str], settings: Settings
) -> None:
    primary, replica = databases
    # Tokens are checked on the primary: the replica holds none.
    token = asyncio.run(admin_token(primary))

    async def scenario(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            writer = Client(http, token)
            made = await factories.warehouse(writer, "ON-PRIMARY")
            # The mutation's payload reads what it wrote: from the primary.
            assert made["code"] == "ON-PRIMARY"
            codes = await writer("{ warehouses { nodes { code } } }")
            # The query reads the replica, which has none of it.
            assert codes["warehouses"]["nodes"] == []

    with running_server(
        settings.model_copy(update={"read_database_url": replica}), primary
    ) as base:
        asyncio.run(scenario(base))

    async def counts() -> tuple[int, int]:
        found = []
        for url in (primary, replica):
            engine = create_engine(url)
            async with engine.connect() as conn:
                found.append(
                    (await conn.execute(text("SELECT count(*) FROM warehouses"))).scalar_one()
                )
            await engine.dispose()
        return found[0], found[1]

    assert asyncio.run(counts()) == (1, 0)  # written on the primary only
