"""`onhand serve --workers N`: N server processes share one port, the background work runs
once, events reach subscribers of every process, reservations stay exact across processes,
and SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db.engine import create_engine
from support import factories
from support.channels import channel, check_invariants, level, reserve
from support.client import Client
from support.factories import adjust
from support.processes import ONHAND, Served, environment, start_serving, stopping
from support.waiting import until
from support.ws import UPDATED, Subscriber

pytestmark = pytest.mark.slow

WORKERS = 2
UNITS = 20
SHOPPERS = 60


def server_processes(served: Served) -> list[psutil.Process]:
    """The children serving the port (the background process and multiprocessing's helper
    do not hold the listening socket)."""
    port = int(served.url.rsplit(":", 1)[1])
    return [
        child
        for child in psutil.Process(served.process.pid).children()
        if any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == port
            for c in child.net_connections(kind="tcp")
        )
    ]


def serving(subscriber: Subscriber, servers: list[psutil.Process]) -> int:
    """The pid of the server process at the other end of the subscriber's WebSocket."""
    mine = subscriber.socket.local_address[1]
    for server in servers:
        if any(c.raddr and c.raddr.port == mine for c in server.net_connections(kind="tcp")):
            return server.pid
    raise AssertionError("no server process holds this WebSocket")


async def subscribers_on_every_process(
    stack: AsyncExitStack, served: Served, token: str, servers: list[psutil.Process]
) -> AsyncIterator[Subscriber]:
    """Subscribers, opened until every server process has one (the kernel decides which
    process accepts each connection)."""
    found: dict[int, Subscriber] = {}
    for _ in range(40):
        subscriber = await stack.enter_async_context(Subscriber(served.url, token))
        found.setdefault(serving(subscriber, servers), subscriber)
        if len(found) == len(servers):
            break
    assert len(found) == len(servers), "connections never reached every server process"
    for subscriber in found.values():
        yield subscriber


async def test_several_server_processes_serve_one_port(fresh_database: str) -> None:
    database = create_engine(fresh_database)
    try:
        await _serve_with_workers(fresh_database, database)
    finally:
        await database.dispose()


async def _serve_with_workers(fresh_database: str, database: AsyncEngine) -> None:
    async with database.begin() as conn:
        token = (await create_token(conn, "workers", Role.ADMIN)).secret
    env = environment(
        ONHAND_DATABASE_URL=fresh_database,
        ONHAND_WORKERS=str(WORKERS),
        # No polling of the outbox: an event reaches the other process through the broadcast
        # (PostgreSQL's LISTEN/NOTIFY) in time, or not at all.
        ONHAND_EVENT_POLL_SECONDS="60",
        ONHAND_SHUTDOWN_GRACE_SECONDS="5",
        ONHAND_LOG_LEVEL="INFO",  # to see which processes start, and what runs where
    )
    with stopping(start_serving(env)) as served:
        # /readyz answered from one process; the others start alongside.
        await until(
            lambda: len(server_processes(served)) == WORKERS,
            f"{WORKERS} processes listening",
            explain=lambda: served.output.text,
        )
        servers = server_processes(served)
        # The background loops run once, in a process of their own.
        said = served.said("onhand worker running")
        assert said.count("onhand worker running") == 1
        assert said.count("Started server process") == WORKERS
        children = psutil.Process(served.process.pid).children(recursive=True)
        # The processes share the port among themselves only: another server is refused it.
        port = served.url.rsplit(":", 1)[1]
        other = await asyncio.to_thread(
            subprocess.run,
            [str(ONHAND), "serve"],
            env={**env, "ONHAND_WORKERS": "1", "ONHAND_PORT": port},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 1
        assert "already in use" in other.stderr

        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            admin = Client(http, token)
            await factories.stocked(admin, "WORKERS-1", {"DC-1": UNITS})
            await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
            async with AsyncExitStack() as stack:
                listening = [
                    s async for s in subscribers_on_every_process(stack, served, token, servers)
                ]
                for subscriber in listening:
                    await subscriber.subscribe(UPDATED, {"skus": ["WORKERS-1"]})
                await adjust(admin, "WORKERS-1", "DC-1", 5)
                for subscriber in listening:
                    heard = await subscriber.next(seconds=10)
                    assert heard["data"]["inventoryUpdated"]["newQuantity"] == UNITS + 5

            # Shoppers on many connections (so, on every process) race for the last units.
            async def shopper(index: int) -> dict[str, Any]:
                async with httpx.AsyncClient(base_url=served.url, timeout=60) as own:
                    return await reserve(
                        Client(own, token),
                        sku="WORKERS-1",
                        quantity=1,
                        referenceId=f"cart-{index}",
                        channelCode="WEBSITE",
                    )

            results = await asyncio.gather(*(shopper(i) for i in range(SHOPPERS)))
        won = [r for r in results if r["reservation"]]
        assert len(won) == UNITS + 5
        assert all(
            [e["code"] for e in r["errors"]] == ["INSUFFICIENT_STOCK"]
            for r in results
            if not r["reservation"]
        )
        stocked = await level(database, "WORKERS-1", "DC-1")
        assert (stocked["reserved"], stocked["available"]) == (UNITS + 5, 0)

        started = time.monotonic()
        assert served.stop(timeout=30) == 0
        assert time.monotonic() - started < 15
        # Every child is gone with the parent (multiprocessing's helper a moment later).
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    await check_invariants(database)
