"""`onhand serve` exits within ONHAND_SHUTDOWN_GRACE_SECONDS of SIGTERM whatever it is doing:
publishing a large outbox backlog, or retrying a database that went away."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from onhand.db.engine import plain_url
from support.database import refusing_connections
from support.processes import Served, environment, start_serving, stopping

pytestmark = pytest.mark.slow

GRACE = 3.0
# Beyond the grace: the interpreter's own exit.
SLACK = 4.0
BACKLOG = 200_000


def stop_timed(served: Served) -> float:
    started = time.monotonic()
    served.stop(timeout=60)
    return time.monotonic() - started


def serve(url: str) -> Served:
    return start_serving(
        environment(ONHAND_DATABASE_URL=url, ONHAND_SHUTDOWN_GRACE_SECONDS=str(GRACE))
    )


async def test_sigterm_while_publishing_a_large_backlog(fresh_database: str) -> None:
    conn = await asyncpg.connect(plain_url(fresh_database))
    try:
        await conn.execute(
            "INSERT INTO outbox (topic, payload)"
            " SELECT 'INVENTORY_UPDATED', jsonb_build_object('n', g)"
            " FROM generate_series(1, $1) g",
            BACKLOG,
        )
    finally:
        await conn.close()
    with stopping(serve(fresh_database)) as served:
        await asyncio.sleep(1)  # the relay is at work on the backlog
        took = await asyncio.to_thread(stop_timed, served)
    assert took < GRACE + SLACK, f"stopped {took:.1f} s after SIGTERM"
    conn = await asyncpg.connect(plain_url(fresh_database))
    try:
        # Stopped at a batch boundary: what was published is numbered without a gap, and the
        # rest waits for the next process.
        numbered, highest = await conn.fetchrow(
            "SELECT count(sequence), coalesce(max(sequence), 0) FROM outbox"
        )
    finally:
        await conn.close()
    assert numbered == highest


async def test_sigterm_while_the_database_is_away(
    database_server: str, fresh_database: str
) -> None:
    with stopping(serve(fresh_database)) as served:
        async with refusing_connections(database_server, fresh_database):
            await asyncio.sleep(2)  # the loops fail and retry
            took = await asyncio.to_thread(stop_timed, served)
    assert took < GRACE + SLACK, f"stopped {took:.1f} s after SIGTERM"
