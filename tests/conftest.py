"""Fixtures: a fresh migrated database, a running server, a token per role, clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db.engine import create_engine
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from support import database
from support.client import Client, Connector
from support.server import running_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with tests that start processes of their own go first: they are the longest,
    and the two test processes then finish together rather than one waiting on the other."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="session")
def database_server() -> str:
    return database.server_url()


@pytest.fixture(scope="session")
def database_url(database_server: str) -> Iterator[str]:
    url = database.create(database_server)
    yield url
    database.drop(database_server, url)


@pytest.fixture
def fresh_database(database_server: str) -> Iterator[str]:
    """A database of its own, for a test that runs its own server processes on it."""
    url = database.create(database_server)
    yield url
    database.drop(database_server, url)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # Webhook retries wait 50 ms instead of 1 s, so retry tests stay fast.
    # No scheduled reconciliation in the shared test server, and its sweeper looks only when
    # a reservation falls due (hourly at most): their runs would race with the tests' own
    # (tests/test_reconciliation.py runs the schedule itself; tests/test_sweeper.py sweeps
    # by itself, or starts a server that sweeps every 0.2 s).
    # A small pool: each test process has a server of its own, and tests start more, all on
    # one PostgreSQL with 100 connections.
    return Settings(
        database_url=database_url,
        db_pool_size=8,
        db_max_overflow=4,
        token_cache_seconds=60,
        retry_delay_seconds=0.05,
        reconciliation_interval_minutes=0,
        sweeper_interval_seconds=3600,
    )


@pytest.fixture(scope="session")
def base_url(settings: Settings, database_url: str) -> Iterator[str]:
    with running_server(settings, database_url) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def tokens(engine: AsyncEngine) -> dict[Role, str]:
    issued = {}
    async with engine.begin() as conn:
        for role in (Role.ADMIN, Role.OPERATOR, Role.STOREFRONT):
            issued[role] = (await create_token(conn, f"test-{role.lower()}", role)).secret
    return issued


@pytest_asyncio.fixture(scope="session")
async def emptying(engine: AsyncEngine) -> str:
    return await database.emptying_statement(engine)


@pytest_asyncio.fixture(autouse=True)
async def clean(engine: AsyncEngine, emptying: str) -> None:
    """Every test starts from empty tables (tokens excepted)."""
    await database.empty(engine, emptying)


@pytest_asyncio.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture
def admin(http: httpx.AsyncClient, tokens: dict[Role, str]) -> Client:
    return Client(http, tokens[Role.ADMIN])


@pytest.fixture
def operator(http: httpx.AsyncClient, tokens: dict[Role, str]) -> Client:
    return Client(http, tokens[Role.OPERATOR])


@pytest.fixture
def storefront(http: httpx.AsyncClient, tokens: dict[Role, str]) -> Client:
    return Client(http, tokens[Role.STOREFRONT])


Bound = Callable[[Role, str], Awaitable[Client]]


@pytest.fixture
def bound(http: httpx.AsyncClient, engine: AsyncEngine) -> Bound:
    """Makes a client whose token is bound to the channel with the given code (as
    `onhand token create --role CONNECTOR --channel CODE` does; STOREFRONT tokens too)."""

    async def make(role: Role, code: str) -> Client:
        async with engine.begin() as conn:
            channel_id = (await resolve_channel(conn, ChannelRef(key=code))).id
            name = f"test-{role.lower()}-{code}-{uuid.uuid4().hex[:8]}"
            issued = await create_token(conn, name, role, channel_id)
        return Client(http, issued.secret)

    return make


@pytest.fixture
def connector(bound: Bound) -> Connector:
    """Makes a CONNECTOR client bound to the channel with the given code."""

    async def make(code: str) -> Client:
        return await bound(Role.CONNECTOR, code)

    return make
