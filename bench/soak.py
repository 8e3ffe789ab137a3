"""Soak: two `onhand serve` processes and an `onhand worker` on one database, real clients
doing every kind of stock operation at random for a while; then the books must balance.

    python bench/soak.py [--seconds 60] [--clients 8] [--seed 1] [--skus 40]
                         [--database-url URL] [--report FILE] [--logs DIR]

The mix (bench/soak_operations.py): CART reservations (some routed) and carts that expire
within seconds (the worker's sweeper expires them), commits of carts to orders, fulfilments,
releases, adjustments, transfers, transfer orders (created, shipped, received, some short),
small imports, source-system events (recordInventoryEvents, a source per client) and cycle
counts. The clients are spread over both servers; the worker runs every background loop.

Refusals the rules make (INSUFFICIENT_STOCK, INVALID_TRANSITION, ...) are expected; any other
answer fails the soak. At the end, with the load stopped and the events published:
reconcileInventory must find no discrepancy, no level may be negative or have negative
available stock, and every bucket of every level must equal the sum of its ledger deltas.
Prints operations per kind, errors per code and throughput, and exits 1 if anything failed.
Without --database-url it makes a fresh database (ONHAND_BENCH_DATABASE_URL's server) and
drops it afterwards; --report writes the summary as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ONHAND, Database, free_port
from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db.engine import create_engine, plain_url
from onhand.db.tables import BUCKETS
from soak_operations import EXPECTED, WEIGHTS, Outcomes, Stock, run_clients, unexpected

WAREHOUSES = ["SOAK-A", "SOAK-B", "SOAK-C"]
CHANNEL = "SOAK-WEB"
# Settings of every process: pools of a fixed size, no connections beyond them (three
# processes share the database server with others: a connection opened and closed for each
# busy moment could meet a full server and be refused), a sweeper that looks every second,
# no scheduled reconciliation (the soak runs its own at the end).
ENVIRONMENT = {
    "ONHAND_DB_POOL_SIZE": "8",
    "ONHAND_DB_MAX_OVERFLOW": "0",
    "ONHAND_SWEEPER_INTERVAL_SECONDS": "1",
    "ONHAND_RECONCILIATION_INTERVAL_MINUTES": "0",
    "ONHAND_LOG_LEVEL": "WARNING",
    "ONHAND_LOG_FORMAT": "text",
}

console = Console()


@contextlib.asynccontextmanager
async def processes(database_url: str, logs: Path) -> AsyncIterator[list[str]]:
    """Two servers without background loops and one worker with all of them; yields the
    servers' URLs. Each process logs to a file of its own under `logs`."""
    env = {**subprocess_environment(), "ONHAND_DATABASE_URL": database_url, **ENVIRONMENT}
    started: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for number in range(2):
            port = free_port()
            started.append(
                spawn(
                    ["serve", "--port", str(port)],
                    {**env, "ONHAND_RUN_WORKERS_IN_SERVER": "false"},
                    logs / f"server-{number}.log",
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        started.append(spawn(["worker"], env, logs / "worker.log"))
        await ready(urls, started)
        yield urls
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def ready(urls: list[str], started: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every server answers /readyz; a process that exits meanwhile fails it."""
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2) as http:
        for url in urls:
            while True:
                if any(process.poll() is not None for process in started):
                    raise RuntimeError("an onhand process exited while starting (see its log)")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} was not ready within 2 minutes")
                await asyncio.sleep(0.2)


def subprocess_environment() -> dict[str, str]:
    """This environment without onhand's own settings (the soak gives those)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ONHAND_")}


def spawn(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(ONHAND), *arguments], env=env, stdout=output, stderr=subprocess.STDOUT
        )


async def prepare(url: str, token: str, skus: int) -> Stock:
    """Warehouses, a channel selling from all of them, and `skus` products stocked at each
    warehouse by an import (the first operation of the soak, through the API too)."""
    codes = [f"SOAK-{n:04d}" for n in range(skus)]
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:

        async def call(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            body = response.json()
            data = body.get("data") or {}
            payload = next(iter(data.values()), None) if data else None
            if body.get("errors") or (payload and payload.get("errors")):
                raise RuntimeError(f"setting up the soak failed: {body}")
            return dict(data)

        for code in WAREHOUSES:
            await call(
                "mutation($i: CreateWarehouseInput!) { createWarehouse(input: $i) { errors"
                " { code message } } }",
                {"i": {"code": code, "name": code}},
            )
        await call(
            "mutation($i: CreateChannelInput!) { createChannel(input: $i) { errors"
            " { code message } } }",
            {"i": {"code": CHANNEL, "name": "Soak web shop", "warehouseCodes": WAREHOUSES}},
        )
        rows = "".join(f"{sku},{code},200\n" for sku in codes for code in WAREHOUSES)
        await call(
            "mutation($i: ImportInventoryInput!) { importInventory(input: $i) { errors"
            " { code message } } }",
            {"i": {"csv": "SKU,WarehouseCode,Quantity\n" + rows, "createMissingProducts": True}},
        )
    return Stock(codes, WAREHOUSES, CHANNEL)


async def settled(database_url: str, within: float = 120) -> None:
    """Wait until every committed event is published and the holds due have expired, so
    that the checks see the books at rest."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            busy = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)"
                " OR EXISTS (SELECT 1 FROM reservations WHERE status = 'ACTIVE'"
                "   AND expires_at < now() - interval '2 seconds')"
            )
            if not busy:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("the events were not published or the holds not expired in time")
    finally:
        await conn.close()


RECONCILE = "mutation { reconcileInventory { run { discrepancyCount } errors { code message } } }"


async def reconcile(url: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        response = await http.post(
            "/graphql",
            json={"query": RECONCILE},
            headers={"Authorization": f"Bearer {token}"},
        )
    payload = response.json()["data"]["reconcileInventory"]
    if payload["errors"]:
        raise RuntimeError(f"reconcileInventory failed: {payload['errors']}")
    return int(payload["run"]["discrepancyCount"])


UNEXPLAINED = f"""
SELECT count(*) FROM inventory_levels l
LEFT JOIN (
    SELECT level_id, {", ".join(f"sum(d_{b}) AS {b}" for b in BUCKETS)}
    FROM inventory_movements GROUP BY level_id
) m ON m.level_id = l.id
WHERE {" OR ".join(f"l.{b} <> coalesce(m.{b}, 0)" for b in BUCKETS)}
"""
NEGATIVE = f"""
SELECT count(*) FROM inventory_levels
WHERE {" OR ".join(f"{b} < 0" for b in BUCKETS)}
   OR on_hand - reserved - committed - damaged - quarantined - safety_stock < 0
"""
TALLY = """
SELECT (SELECT count(*) FROM inventory_movements) AS movements,
    (SELECT count(*) FROM reservations WHERE status = 'EXPIRED') AS expired,
    (SELECT count(*) FROM outbox) AS events
"""


async def checks(database_url: str, url: str, token: str) -> dict[str, int]:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        unexplained = int(await conn.fetchval(UNEXPLAINED))
        negative = int(await conn.fetchval(NEGATIVE))
        tally = dict(await conn.fetchrow(TALLY))
    finally:
        await conn.close()
    return {
        "discrepancies": await reconcile(url, token),
        "negative levels": negative,
        "unexplained levels": unexplained,
        **{key: int(value) for key, value in tally.items()},
    }


def report(outcomes: Outcomes, seconds: float, found: dict[str, int]) -> dict[str, Any]:
    per_kind: dict[str, dict[str, int]] = {kind: {} for kind in WEIGHTS}
    for (kind, outcome), count in sorted(outcomes.counts.items()):
        per_kind[kind][outcome] = count
    errors = Counter[str]()
    for (_, outcome), count in outcomes.counts.items():
        if outcome != "ok":
            errors[outcome] += count
    broken = ("discrepancies", "negative levels", "unexplained levels")
    passed = outcomes.unexpected_count() == 0 and not any(found[name] for name in broken)
    return {
        "seconds": round(seconds, 1),
        "operations": outcomes.total(),
        "per_second": round(outcomes.total() / seconds, 1),
        "per_kind": per_kind,
        "errors": dict(errors.most_common()),
        "unexpected": outcomes.unexpected_count(),
        "unexpected_examples": outcomes.unexpected[:10],
        "checks": found,
        "passed": passed,
    }


def show(summary: dict[str, Any]) -> None:
    kinds = Table(title="operations per kind")
    for column in ("kind", "ok", "refused (expected)", "failed (unexpected)"):
        kinds.add_column(column, justify="right")
    for kind, outcomes in summary["per_kind"].items():
        refused = sum(n for o, n in outcomes.items() if o in EXPECTED)
        failed = sum(n for o, n in outcomes.items() if unexpected(o))
        kinds.add_row(kind, f"{outcomes.get('ok', 0):,}", f"{refused:,}", f"{failed:,}")
    # Not a client's request: the holds the worker's sweeper released when they fell due.
    kinds.add_row("expiry (sweeper)", f"{summary['checks']['expired']:,}", "", "")
    console.print(kinds)
    errors = Table(title="errors per code")
    errors.add_column("code")
    errors.add_column("count", justify="right")
    errors.add_column("expected")
    for code, count in summary["errors"].items():
        errors.add_row(code, f"{count:,}", "yes" if code in EXPECTED else "NO")
    console.print(errors)
    ends = Table(title="at the end")
    ends.add_column("check")
    ends.add_column("value", justify="right")
    for name, value in summary["checks"].items():
        ends.add_row(name, f"{value:,}")
    console.print(ends)
    for example in summary["unexpected_examples"]:
        console.print(f"[red]unexpected[/red] {example}")
    verdict = "[green]PASSED[/green]" if summary["passed"] else "[red]FAILED[/red]"
    console.print(
        f"{summary['operations']:,} operations in {summary['seconds']} s:"
        f" {summary['per_second']:,} per second; {verdict}"
    )


@contextlib.asynccontextmanager
async def database(url: str | None) -> AsyncIterator[Database]:
    if url is None:
        async with Database.fresh() as fresh:
            yield fresh
        return
    engine = create_engine(url)
    async with engine.begin() as conn:
        token = (await create_token(conn, f"soak-{time.time_ns()}", Role.ADMIN)).secret
    await engine.dispose()
    yield Database(url, token)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    async with database(args.database_url) as db:
        with tempfile.TemporaryDirectory(prefix="onhand-soak-") as temporary:
            folder = args.logs or Path(temporary)
            folder.mkdir(parents=True, exist_ok=True)
            try:
                async with processes(db.url, folder) as urls:
                    stock = await prepare(urls[0], db.token, args.skus)
                    console.print(
                        f"soaking for {args.seconds:g} s: {args.clients} clients, 2 servers,"
                        f" 1 worker, {args.skus} SKUs x {len(WAREHOUSES)} warehouses"
                    )
                    outcomes, seconds = await run_clients(
                        urls, db.token, stock, args.clients, args.seconds, args.seed
                    )
                    await settled(db.url)
                    found = await checks(db.url, urls[1], db.token)
            except BaseException:
                show_logs(folder)
                raise
    return report(outcomes, seconds, found)


def show_logs(folder: Path) -> None:
    """The end of each process's log, when the soak could not finish."""
    for log in sorted(folder.glob("*.log")):
        console.print(f"--- {log.name}\n{log.read_text()[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skus", type=int, default=40)
    parser.add_argument("--database-url", help="a migrated database (default: a fresh one)")
    parser.add_argument("--report", type=Path, help="write the summary here as JSON")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    args = parser.parse_args()
    summary = asyncio.run(soak(args))
    show(summary)
    if args.report:
        args.report.write_text(json.dumps(summary, indent=2))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
