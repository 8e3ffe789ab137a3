"""What the benchmarks share: a fresh migrated database, an `onhand serve` process, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db import migrate
from onhand.db.engine import create_engine, plain_url

SERVER = os.environ.get(
    "ONHAND_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ONHAND = Path(sys.executable).parent / "onhand"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass
class Database:
    url: str
    token: str

    @property
    def plain_url(self) -> str:
        return plain_url(self.url)

    @classmethod
    @contextlib.asynccontextmanager
    async def fresh(cls) -> AsyncIterator[Database]:
        """A new database, migrated, with an ADMIN token; dropped afterwards."""
        name = f"onhand_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(plain_url(SERVER))
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(plain_url(SERVER)).set(database=name).render_as_string(hide_password=False)
        try:
            await asyncio.to_thread(migrate.upgrade, url)
            engine = create_engine(url)
            async with engine.begin() as conn:
                token = (await create_token(conn, "bench", Role.ADMIN)).secret
            await engine.dispose()
            yield cls(url, token)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    async def level(self, quantity: int = 0) -> tuple[int, int]:
        """A product stocked at a warehouse (made through the domain functions)."""
        from onhand.core.refs import Ref
        from onhand.inventory.ledger import ChangeContext, MovementSource
        from onhand.inventory.levels import CreateLevel, create_level
        from onhand.inventory.products import create_product
        from onhand.inventory.warehouses import create_warehouse

        suffix = uuid.uuid4().hex[:8]
        engine = create_engine(self.url)
        async with engine.begin() as conn:
            warehouse = await create_warehouse(conn, {"code": f"W-{suffix}", "name": "bench"})
            product = await create_product(conn, {"sku": f"S-{suffix}", "name": "bench"})
            await create_level(
                conn,
                CreateLevel(Ref(id=product.id), Ref(id=warehouse.id), quantity=quantity),
                ChangeContext(actor="bench", source=MovementSource.SYSTEM),
            )
        await engine.dispose()
        return product.id, warehouse.id


async def wait_ready(url: str, method: str = "GET", within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.request(method, url, timeout=1)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@contextlib.contextmanager
def onhand_process(database_url: str, port: int, **env: str) -> Iterator[str]:
    """`onhand serve` in its own process, ready when this yields its base URL."""
    process = subprocess.Popen(
        [str(ONHAND), "serve", "--port", str(port)],
        env={
            **os.environ,
            "ONHAND_DATABASE_URL": database_url,
            "ONHAND_LOG_LEVEL": "WARNING",
            **env,
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("onhand serve did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
