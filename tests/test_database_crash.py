"""PostgreSQL killed outright (SIGKILL, every process of it) while real clients write through a
real `onhand serve`, then started again: the server recovers by itself, says it is not ready
while the database is away, answers writes meanwhile at once with UNAVAILABLE, and every write
it answered with success is in the ledger afterwards. The database is a private one: the
shared server is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import httpx
import pytest

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db.engine import create_engine
from support import factories
from support.client import Client
from support.faults import Writers, missing, nothing_half_applied, succeeded_since
from support.private_postgres import private_postgres
from support.processes import onhand_process
from support.waiting import until

pytestmark = pytest.mark.slow

# A connection attempt gives up after this long: the most a request may wait on a database
# that does not answer (refused connections fail at once).
CONNECT_TIMEOUT_SECONDS = 2
SKUS = ["CRASH-1", "CRASH-2", "CRASH-3"]


async def readiness(http: httpx.AsyncClient) -> int:
    try:
        return (await http.get("/readyz", timeout=10)).status_code
    except httpx.HTTPError:
        return 0


async def test_writes_survive_postgresql_killed_under_load() -> None:
    with private_postgres() as postgres:
        url = await asyncio.to_thread(postgres.migrated_database)
        engine = create_engine(url)
        async with engine.begin() as conn:
            token = (await create_token(conn, "crash", Role.ADMIN)).secret
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            onhand = stack.enter_context(
                onhand_process(
                    url,
                    ONHAND_DB_CONNECT_TIMEOUT_SECONDS=str(CONNECT_TIMEOUT_SECONDS),
                    ONHAND_DB_POOL_TIMEOUT_SECONDS="5",
                )
            )
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=onhand.url))

            def said() -> str:
                return onhand.output.text

            admin = Client(http, token)
            for sku in SKUS:
                await factories.stocked(admin, sku, {"DC-1": 1_000_000})

            writers = Writers(onhand.url, token, SKUS)
            writing = asyncio.create_task(writers.run())
            stack.push_async_callback(stop, writers, writing)
            await succeeded_since(writers, 0, 30, seconds=30)

            crashed_at = time.monotonic()
            postgres.crash()
            await until(
                lambda: not_ready(http), "readyz said the database is away", 20, explain=said
            )
            # The writers keep going against the dead database for a while.
            await asyncio.sleep(2)
            during = [a for a in writers.answers if a.started > crashed_at + 0.5]
            assert len(during) >= 10, "the writers were answered while the database was away"

            await asyncio.to_thread(postgres.start)
            restarted_at = time.monotonic()
            await until(lambda: ready(http), "readyz said ready again", seconds=60, explain=said)
            await succeeded_since(writers, restarted_at, 30, seconds=30)
            await stop(writers, writing)

            # While the database was away: refused with a code, and at once.
            outage = [a for a in writers.failed() if crashed_at <= a.started <= restarted_at]
            assert outage, "no write was refused while the database was away"
            assert all(a.status is not None for a in outage), "every write got an answer"
            # Nothing else went wrong, before, during or after.
            codes = Counter(code for a in writers.failed() for code in a.codes)
            assert set(codes) == {"UNAVAILABLE"}, codes
            slowest = max(a.seconds for a in outage)
            assert slowest < CONNECT_TIMEOUT_SECONDS + 6, slowest
            # Before and after: every write answered with success is there, and the stock is
            # what the ledger says.
            await engine.dispose()  # the test's own connections died with the database
            reserved, adjusted = writers.succeeded("reserve"), writers.succeeded("adjust")
            assert await missing(engine, "reservations", reserved) == set()
            held = await missing(engine, "inventory_movements", reserved, "reservation_id")
            assert held == set(), "each reservation answered has its ledger row"
            assert await missing(engine, "inventory_movements", adjusted) == set()
            await nothing_half_applied(engine, admin)


async def stop(writers: Writers, writing: asyncio.Task[None]) -> None:
    writers.stop.set()
    await writing


async def ready(http: httpx.AsyncClient) -> bool:
    return await readiness(http) == 200


async def not_ready(http: httpx.AsyncClient) -> bool:
    return await readiness(http) == 503
