"""What the benchmarks share: a fresh migrated database, an `onhand serve` process, percentiles."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
from rich.table import Table
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

    async def execute(self, sql: str) -> None:
        """`sql` (one statement or several) run on the database."""
        conn = await asyncpg.connect(self.plain_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

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


async def _settled(database_url: str, within: float = 120) -> None:
    """Wait until the events already in the outbox (a baseline's writes, a setup's) are
    published and judged by the alert evaluator, so that the run measured does not pay for
    them."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            behind = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)"
                " OR (SELECT last_sequence FROM alert_cursor)"
                " < (SELECT coalesce(max(sequence), 0) FROM outbox)"
            )
            if not behind:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("onhand did not publish the waiting events in time")
    finally:
        await conn.close()


# The process of each `onhand serve` running, by its base URL (server_cpu_seconds).
_SERVERS: dict[str, int] = {}


def server_cpu_seconds(url: str) -> float:
    """CPU seconds used so far by the `onhand serve` at `url` and its worker processes: the
    cost per request, which a busy machine moves much less than it moves throughput."""
    process = psutil.Process(_SERVERS[url])
    return sum(
        times.user + times.system
        for times in (p.cpu_times() for p in [process, *process.children(recursive=True)])
    )


@contextlib.contextmanager
def onhand_process(database_url: str, port: int, **env: str) -> Iterator[str]:
    """`onhand serve` in its own process, ready when this yields its base URL."""
    process = subprocess.Popen(
        [str(ONHAND), "serve", "--port", str(port)],
        env={
            **os.environ,
            "ONHAND_DATABASE_URL": database_url,
            "ONHAND_LOG_LEVEL": "WARNING",
            # A benchmark drives one token far past any client's rate: measured, not limited.
            "ONHAND_COST_LIMIT": "false",
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
        if int(env.get("ONHAND_WORKERS", "1")) > 1:
            time.sleep(3)  # /readyz answered from one process; the others start alongside
        # In a thread of its own: the caller may be inside an event loop (bench/feed.py).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(lambda: asyncio.run(_settled(database_url))).result()
        _SERVERS[url] = process.pid
        yield url
    finally:
        _SERVERS.pop(url, None)
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class Rate:
    """One measured run: operations per second and latency percentiles in milliseconds."""

    per_second: float
    p50_ms: float
    p99_ms: float
    # The server's CPU milliseconds per operation (onhand's side only).
    cpu_ms: float | None = None


def rate_of(
    count: int, seconds: float, latencies_ms: Sequence[float], cpu_seconds: float | None = None
) -> Rate:
    cpu_ms = cpu_seconds * 1000 / count if cpu_seconds is not None and count else None
    return Rate(count / seconds, percentile(latencies_ms, 50), percentile(latencies_ms, 99), cpu_ms)


def pgbench(url: str, script: str, clients: int, seconds: float) -> Rate:
    """`script` (pgbench's language) run by pgbench with `clients` connections for `seconds`,
    each transaction's latency logged: the baseline no Python client can slow down."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "script.sql"
        path.write_text(script)
        found = subprocess.run(
            [
                "pgbench", "--no-vacuum", "--protocol=prepared", f"--client={clients}",
                "--jobs=2", f"--time={max(1, round(seconds))}", f"--file={path}",
                "--log", f"--log-prefix={Path(folder) / 'log'}", plain_url(url),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if found.returncode != 0:
            raise RuntimeError(f"pgbench failed: {found.stderr.strip()[-600:]}")
        latencies = [
            int(fields[2]) / 1000
            for log in Path(folder).glob("log*")
            for fields in (line.split() for line in log.read_text().splitlines())
            if fields[2].isdigit()  # not "failed" or "skipped"
        ]
    tps = re.search(r"tps = ([\d.]+) \(without initial", found.stdout)
    if tps is None:
        raise RuntimeError(f"pgbench printed no rate: {found.stdout[-600:]}")
    return Rate(float(tps.group(1)), percentile(latencies, 50), percentile(latencies, 99))


def baseline(db: Database, script: str, clients: int, seconds: float) -> Rate:
    """A write baseline run by pgbench in onhand's tables. Its outbox events are deleted
    afterwards: the next onhand run's relay would otherwise publish them, on onhand's time."""
    rate = pgbench(db.url, script, clients, seconds)
    asyncio.run(db.execute("DELETE FROM outbox WHERE sequence IS NULL"))
    return rate


@dataclass(frozen=True)
class Summary:
    """Repeated runs of one side: the median and the spread, never the best run."""

    runs: tuple[Rate, ...]

    @property
    def median(self) -> Rate:
        cpu = [r.cpu_ms for r in self.runs if r.cpu_ms is not None]
        return Rate(
            statistics.median(r.per_second for r in self.runs),
            statistics.median(r.p50_ms for r in self.runs),
            statistics.median(r.p99_ms for r in self.runs),
            statistics.median(cpu) if cpu else None,
        )

    @property
    def spread(self) -> str:
        rates = [r.per_second for r in self.runs]
        return f"{min(rates):,.0f}-{max(rates):,.0f}"


def interleaved(sides: dict[str, Callable[[], Rate]], rounds: int) -> dict[str, Summary]:
    """Each side run `rounds` times, alternating (A, B, A, B, ...), so that a machine getting
    busier or quieter during the benchmark moves every side alike."""
    runs: dict[str, list[Rate]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            runs[name].append(run())
    return {name: Summary(tuple(found)) for name, found in runs.items()}


def comparison_table(title: str, caption: str) -> Table:
    table = Table(title=title, caption=caption)
    columns = ("workload", "path", "per second", "spread", "p50 ms", "p99 ms", "vs baseline")
    for column in (*columns, "server CPU ms/op"):
        table.add_column(column, justify="right")
    return table


def add_comparison(
    table: Table, label: str, found: dict[str, Summary], say: Callable[[str], None]
) -> None:
    """A workload's rows: each side's median beside the first side's (the baseline)."""
    baseline = next(iter(found.values())).median.per_second
    for path, summary in found.items():
        median = summary.median
        say(f"{label}, {path}: {median.per_second:,.0f}/s ({summary.spread})")
        table.add_row(
            label,
            path,
            f"{median.per_second:,.0f}",
            summary.spread,
            f"{median.p50_ms:.1f}",
            f"{median.p99_ms:.1f}",
            f"{median.per_second / baseline:.2f}x",
            f"{median.cpu_ms:.2f}" if median.cpu_ms is not None else "",
        )
