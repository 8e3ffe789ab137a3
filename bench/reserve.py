"""Reservations: createReservation through GraphQL beside the fewest writes it needs, and the
sweeper.

    python bench/reserve.py [--seconds 8] [--concurrency 16] [--rounds 3] [--skus 48000]
                            [--expired 100000] [--without-coalescing] [--bounds]

Starts a fresh database (one warehouse, one channel, a hot SKU and `skus` more), then, on one
hot SKU and then on a random SKU of `skus` each time, interleaved (baseline, onhand, baseline,
onhand, ...) for `rounds` rounds:

1. baseline: the physical limit. The fewest durable writes a CART reservation needs, in
   onhand's own tables (sql/reserve_fewest_writes.sql: the channel hold, the level, the
   reservation, its ledger row and two outbox events) as one function call per reservation,
   driven by pgbench with `concurrency` connections;
2. onhand: createReservation documents over HTTP/1.1 keep-alive connections (a minimal raw
   socket client in its own process, so that the client takes little of the CPU the server
   needs) against `onhand serve --workers N` (default 1) started for the run;
3. sweeper: `expired` reservations made through the domain, then made due; then, each run
   on a fresh copy of that database, interleaved for `rounds` rounds: the baseline (the
   fewest writes the expiries need, sql/expire_fewest_writes.sql: one set-based statement
   a batch) and onhand's sweeper, each with `sweepers` transactions at once, 5,000 a batch,
   until nothing is due; expiries per second and batch latencies. With --bounds, also the
   baseline's statement without its events (a bound: what every other row of an expiry
   costs).

Prints each side's median rate, spread, p50 and p99, and onhand / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrk
from common import (
    Database,
    Rate,
    add_comparison,
    baseline,
    comparison_table,
    free_port,
    interleaved,
    onhand_process,
    rate_of,
    server_cpu_seconds,
)
from onhand.core.refs import Ref
from onhand.db.engine import create_engine, plain_url
from onhand.inventory import ledger
from onhand.inventory.channels.registry import ChannelRef, create_channel
from onhand.inventory.ledger import ChangeContext, Movement, MovementSource, MovementType
from onhand.inventory.reservations import reserving
from onhand.inventory.reservations.model import ReservationType
from onhand.inventory.warehouses import create_warehouse
from onhand.workers.sweeper import sweep_once

console = Console(width=150)
HERE = Path(__file__).resolve().parent
STOCK = 1_000_000_000
CONTEXT = ChangeContext(actor="bench", source=MovementSource.SYSTEM)
MUTATION = (
    "mutation($input: CreateReservationInput!) { createReservation(input: $input) "
    "{ reservation { id } errors { code message } } }"
)


# -- setup -----------------------------------------------------------------------------------


async def setup(db: Database, skus: int) -> dict[str, Any]:
    engine = create_engine(db.url)
    async with engine.begin() as conn:
        warehouse = await create_warehouse(
            conn, {"code": "DC-1", "name": "bench", "latitude": 32.8, "longitude": -96.8}
        )
        channel = await create_channel(
            conn,
            {"code": "WEBSITE", "name": "bench", "safety_buffer_percent": 0},
            [Ref(id=warehouse.id)],
        )
        await conn.execute(
            text(
                "INSERT INTO products (sku, name) SELECT 'HOT', 'hot' UNION ALL"
                " SELECT 'SKU-' || g, 'bench' FROM generate_series(1, :n) g"
            ),
            {"n": skus},
        )
        ids = (await conn.execute(text("SELECT id FROM products ORDER BY id"))).scalars().all()
        # The channel x product rows exist, as they do once a product has been sold.
        await conn.execute(
            text(
                "INSERT INTO channel_inventory (channel_id, product_id)"
                " SELECT :channel, id FROM products"
            ),
            {"channel": channel.id},
        )
    # Stock arrives through the ledger, as any stock does.
    context = ChangeContext(actor="bench", source=MovementSource.IMPORT, create_missing_levels=True)
    for start in range(0, len(ids), 10_000):
        async with engine.begin() as conn:
            await ledger.apply_change(
                conn,
                [
                    Movement(
                        pid, warehouse.id, MovementType.INITIAL, ledger.Quantities(on_hand=STOCK)
                    )
                    for pid in ids[start : start + 10_000]
                ],
                context,
            )
    await engine.dispose()
    return {
        "warehouse": warehouse.id,
        "channel": channel.id,
        "hot": ids[0],
        "spread": ids[1:],
    }


# -- the baseline: the fewest writes, one call each, driven by pgbench -----------------------

FEWEST_WRITES = (HERE / "sql" / "reserve_fewest_writes.sql").read_text()


def baseline_rate(
    db: Database, world: dict[str, Any], hot: bool, seconds: float, clients: int
) -> Rate:
    spread = world["spread"]
    product = (
        f"\\set product {world['hot']}\n"
        if hot
        else f"\\set product random({min(spread)}, {max(spread)})\n"
    )
    script = product + (
        f"SELECT bench_reserve(:product, {world['warehouse']}, {world['channel']}, 1);\n"
    )
    return baseline(db, script, clients, seconds)


# -- graphql: a minimal HTTP/1.1 keep-alive client in its own process ------------------------


async def _client(
    port: int, token: str, bodies: list[bytes], seconds: float, concurrency: int
) -> dict[str, Any]:
    ok = errors = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def connection(index: int) -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        while time.perf_counter() < deadline:
            body = bodies[(index + sent * concurrency) % len(bodies)]
            sent += 1
            began = time.perf_counter()
            writer.write(
                b"POST /graphql HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            payload = await reader.readexactly(length)
            if b'"errors":[]' in payload:
                ok += 1
                latencies.append((time.perf_counter() - began) * 1000)
            else:
                errors += 1
                if errors < 3:
                    print(payload[:300], file=sys.stderr)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(concurrency)))
    return {
        "ok": ok,
        "errors": errors,
        "seconds": time.perf_counter() - started,
        "latencies": latencies,
    }


def client_main() -> None:
    spec = json.loads(sys.stdin.read())
    bodies = [b.encode() for b in spec["bodies"]]
    result = asyncio.run(
        _client(spec["port"], spec["token"], bodies, spec["seconds"], spec["concurrency"])
    )
    print(json.dumps(result))


def graphql_rate(
    url: str, token: str, world: dict[str, Any], hot: bool, seconds: float, concurrency: int
) -> Rate:
    products = (
        [world["hot"]] if hot else random.sample(world["spread"], min(5000, len(world["spread"])))
    )
    from onhand.api.ids import encode

    bodies = [
        json.dumps(
            {
                "query": MUTATION,
                "variables": {
                    "input": {
                        "productId": encode("Product", p),
                        "quantity": 1,
                        "referenceId": "cart",
                        "channelCode": "WEBSITE",
                    }
                },
            }
        )
        for p in products
    ]
    if wrk.available():
        encoded = [body.encode() for body in bodies]
        return wrk.wrk_rate(url, token, encoded, seconds, concurrency)
    spec = {
        "port": int(url.rsplit(":", 1)[1]),
        "token": token,
        "bodies": bodies,
        "seconds": seconds,
        "concurrency": concurrency,
    }
    cpu_before = server_cpu_seconds(url)
    found = subprocess.run(
        [sys.executable, __file__, "--client"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    if found.stderr.strip():
        console.print(f"[yellow]{found.stderr.strip()[:600]}")
    result = {**json.loads(found.stdout), "cpu_seconds": server_cpu_seconds(url) - cpu_before}
    if result["errors"]:
        console.print(f"[red]{result['errors']} requests failed")
    return rate_of(result["ok"], result["seconds"], result["latencies"], result["cpu_seconds"])


# -- the sweeper -----------------------------------------------------------------------------

EXPIRE_FEWEST_WRITES = (HERE / "sql" / "expire_fewest_writes.sql").read_text()
# The same statement without its events: not a correct sweeper (no subscriber or webhook would
# learn of a release), but what the claim, the reservations, holds, levels and ledger rows cost
# alone, so that a target below it is seen to need fewer of those rows, not fewer events.
EXPIRE_WITHOUT_EVENTS = (
    EXPIRE_FEWEST_WRITES[: EXPIRE_FEWEST_WRITES.index("-- The events, left out")]
    + EXPIRE_FEWEST_WRITES[EXPIRE_FEWEST_WRITES.index("-- (to here.)") :]
)


async def make_due(db: Database, world: dict[str, Any], count: int) -> None:
    """`count` CART reservations made through the domain, then made due."""
    engine = create_engine(db.url)
    terms = reserving.Terms()
    products = world["spread"]
    for start in range(0, count, 2000):
        requests = [
            reserving.ReserveRequest(
                lines=(
                    reserving.ReserveLine(
                        Ref(id=products[(start + i) % len(products)]),
                        1,
                        warehouse=Ref(id=world["warehouse"]),
                    ),
                ),
                type=ReservationType.CART,
                reference_id=f"sweep-{start + i}",
                channel=ChannelRef(id=world["channel"]),
            )
            for i in range(min(2000, count - start))
        ]
        async with engine.begin() as conn:
            await reserving.reserve_many(conn, requests, CONTEXT, terms)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE reservations SET expires_at = now() - interval '1 second'"
                " WHERE reference_id LIKE 'sweep-%'"
            )
        )
    await engine.dispose()
    await db.execute("VACUUM ANALYZE")


@contextlib.asynccontextmanager
async def copy_of(db: Database) -> AsyncIterator[str]:
    """A copy of the benchmark database (CREATE DATABASE ... TEMPLATE), dropped afterwards:
    each run starts from the same due reservations."""
    source = make_url(db.plain_url)
    name = f"{source.database}_copy"
    admin = await asyncpg.connect(
        source.set(database="postgres").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source.database}"')
        yield make_url(db.url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _batches(workers: int, batch: Callable[[], Awaitable[int]]) -> Rate:
    """`workers` loops each running `batch` until one expires nothing (as sweep_all does):
    expiries per second, and each batch's latency."""
    latencies: list[float] = []

    async def worker() -> int:
        total = 0
        while True:
            began = time.perf_counter()
            done = await batch()
            if not done:
                return total
            latencies.append((time.perf_counter() - began) * 1000)
            total += done

    started = time.perf_counter()
    released = sum(await asyncio.gather(*(worker() for _ in range(workers))))
    return rate_of(released, time.perf_counter() - started, latencies)


# What a run leaves: reservations still due, and EXPIRED movements written. (The write
# benchmarks' reservations are still active, but not due.)
_LEFT_AND_EXPIRED = text(
    "SELECT (SELECT count(*) FROM reservations WHERE status = 'ACTIVE' AND expires_at <= now()),"
    " (SELECT count(*) FROM inventory_movements WHERE type = 'EXPIRED')"
)


async def baseline_sweep(
    db: Database, count: int, batch: int, workers: int, function: str = EXPIRE_FEWEST_WRITES
) -> Rate:
    async with copy_of(db) as url:
        pool = await asyncpg.create_pool(plain_url(url), min_size=workers, max_size=workers)
        try:
            await pool.execute(function)

            async def one() -> int:
                return int(await pool.fetchval("SELECT bench_expire($1)", batch))

            rate = await _batches(workers, one)
            left, expired = await pool.fetchrow(str(_LEFT_AND_EXPIRED))
        finally:
            await pool.close()
    assert left == 0, f"{left} reservations still due"
    assert expired == count, f"{expired} EXPIRED movements for {count} reservations"
    return rate


async def onhand_sweep(db: Database, count: int, batch: int, workers: int) -> Rate:
    async with copy_of(db) as url:
        engine = create_engine(url)
        try:
            rate = await _batches(workers, lambda: sweep_once(engine, batch, "bench-sweeper"))
            async with engine.connect() as conn:
                left, expired = (await conn.execute(_LEFT_AND_EXPIRED)).one()
        finally:
            await engine.dispose()
    assert left == 0, f"{left} reservations still due"
    assert expired == count, f"{expired} EXPIRED movements for {count} reservations"
    return rate


def measure_sweeper(db: Database, args: argparse.Namespace) -> None:
    batch = 5000
    table = comparison_table(
        f"the expiry sweeper: {args.expired:,} expired reservations",
        f"{args.sweepers} transactions at once, {batch:,} a batch, each run on a fresh copy of"
        f" the same database; median of {args.rounds} interleaved runs (spread:"
        " slowest-fastest); latencies are per batch",
    )
    sides = {
        "baseline: fewest writes, one statement a batch": lambda: asyncio.run(
            baseline_sweep(db, args.expired, batch, args.sweepers)
        ),
        "onhand sweeper": lambda: asyncio.run(onhand_sweep(db, args.expired, batch, args.sweepers)),
    }
    if args.bounds:
        sides["bound: the same writes without events"] = lambda: asyncio.run(
            baseline_sweep(db, args.expired, batch, args.sweepers, EXPIRE_WITHOUT_EVENTS)
        )
    found = interleaved(sides, args.rounds)
    add_comparison(table, "expiries", found, console.print)
    console.print(table)
    for path, summary in found.items():
        seconds = sorted(args.expired / r.per_second for r in summary.runs)
        console.print(
            f"{path}: {statistics.median(seconds):.2f} s for {args.expired:,}"
            f" ({seconds[0]:.2f}-{seconds[-1]:.2f} s)"
        )


# -- main ------------------------------------------------------------------------------------


def onhand_rate(
    db: Database, world: dict[str, Any], hot: bool, args: argparse.Namespace, coalesce: bool
) -> Rate:
    """One run against a server started for it (and stopped before the baseline runs, so
    that its background loops take nothing from the baseline's time)."""
    env = {
        "ONHAND_COALESCE_RESERVATIONS": "true" if coalesce else "false",
        "ONHAND_WORKERS": str(args.workers),
        "ONHAND_DB_POOL_SIZE": "24",
        "ONHAND_DB_MAX_OVERFLOW": "0",
    }
    with onhand_process(db.url, free_port(), **env) as url:
        return graphql_rate(url, db.token, world, hot, args.seconds, args.concurrency)


def measure(db: Database, world: dict[str, Any], args: argparse.Namespace) -> None:
    table = comparison_table(
        "createReservation: onhand against the fewest writes (pgbench)",
        f"{args.concurrency} connections each side; median of {args.rounds} interleaved runs"
        f" (spread: slowest-fastest); onhand is `onhand serve --workers {args.workers}`",
    )
    for hot in (True, False):
        label = "one hot SKU" if hot else f"spread over {args.skus:,} SKUs"
        sides = {
            "baseline: one function call (pgbench)": lambda hot=hot: baseline_rate(
                db, world, hot, args.seconds, args.concurrency
            ),
            "onhand (GraphQL over HTTP)": lambda hot=hot: onhand_rate(db, world, hot, args, True),
        }
        if args.without_coalescing:
            sides["onhand, coalescing off"] = lambda hot=hot: onhand_rate(
                db, world, hot, args, False
            )
        add_comparison(table, label, interleaved(sides, args.rounds), console.print)
    console.print(table)


async def main(args: argparse.Namespace) -> None:
    async with Database.fresh() as db:
        console.print(f"setting up: 1 warehouse, 1 channel, 1 hot SKU + {args.skus:,} SKUs")
        world = await setup(db, args.skus)
        await db.execute(FEWEST_WRITES)
        if not args.only_sweeper:
            await asyncio.to_thread(measure, db, world, args)
        if args.skip_sweeper:
            return
        console.print(f"making {args.expired:,} due reservations")
        await make_due(db, world, args.expired)
        await asyncio.to_thread(measure_sweeper, db, args)


if __name__ == "__main__":
    if "--client" in sys.argv:
        client_main()
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument("--without-coalescing", action="store_true")
    # One process measured best with 16 clients on the 2-core machine (BENCHMARKS.md).
    parser.add_argument("--workers", type=int, default=1, help="onhand serve --workers")
    parser.add_argument("--skus", type=int, default=48_000)
    parser.add_argument("--expired", type=int, default=100_000)
    parser.add_argument("--sweepers", type=int, default=2, help="sweeper transactions at once")
    parser.add_argument("--only-sweeper", action="store_true")
    parser.add_argument("--skip-sweeper", action="store_true")
    parser.add_argument(
        "--bounds", action="store_true", help="also the sweeper's fewest writes without events"
    )
    asyncio.run(main(parser.parse_args()))
