"""Reservations: createReservation through GraphQL beside the fewest writes it needs, and the
sweeper.

    python bench/reserve.py [--seconds 8] [--concurrency 16] [--rounds 3] [--skus 48000]
                            [--expired 100000] [--without-coalescing]

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
3. sweeper: `expired` reservations made through the domain, then made due, then released by
   one sweeper (batch after batch), timed; rows per second.

Prints each side's median rate, spread, p50 and p99, and onhand / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
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
from onhand.db.engine import create_engine
from onhand.inventory import ledger
from onhand.inventory.channels.registry import ChannelRef, create_channel
from onhand.inventory.ledger import ChangeContext, Movement, MovementSource, MovementType
from onhand.inventory.reservations import reserving
from onhand.inventory.reservations.model import ReservationType
from onhand.inventory.warehouses import create_warehouse
from onhand.workers.sweeper import sweep_all

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


async def sweeper_rate(
    db: Database, world: dict[str, Any], count: int, batch: int, workers: int
) -> dict[str, float]:
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
        due = (
            await conn.execute(
                text(
                    "UPDATE reservations SET expires_at = now() - interval '1 second'"
                    " WHERE reference_id LIKE 'sweep-%' RETURNING id, product_id, warehouse_id"
                )
            )
        ).all()
    # The floor: the ledger alone applying the same EXPIRED movements (rolled back).
    movements = [
        Movement(
            row.product_id,
            row.warehouse_id,
            MovementType.EXPIRED,
            ledger.Quantities(reserved=-1),
            channel_id=world["channel"],
            reservation_id=row.id,
            reason="expired",
        )
        for row in sorted(due, key=lambda row: row.id)
    ]
    chunks = [movements[i : i + batch] for i in range(0, len(movements), batch)]

    async def apply_chunks(mine: list[list[Movement]]) -> None:
        for chunk in mine:
            async with engine.connect() as conn:
                transaction = await conn.begin()
                await ledger.apply_change(conn, chunk, CONTEXT)
                await transaction.rollback()

    started = time.perf_counter()
    await asyncio.gather(*(apply_chunks(chunks[w::workers]) for w in range(workers)))
    ledger_only = time.perf_counter() - started
    started = time.perf_counter()
    released = await sweep_all(engine, batch, workers)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    assert released == len(due), (released, len(due))
    return {"released": released, "seconds": elapsed, "ledger_seconds": ledger_only}


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
        swept = await sweeper_rate(db, world, args.expired, 5000, args.sweepers)
        released = swept["released"]
        console.print(
            f"sweeper ({args.sweepers} transactions at once, 5,000 a batch): released"
            f" {released:,.0f} expired reservations in {swept['seconds']:.2f} s"
            f" ({released / swept['seconds']:,.0f} rows/s); the ledger alone applying the same"
            f" movements: {swept['ledger_seconds']:.2f} s"
            f" ({swept['seconds'] / swept['ledger_seconds']:.1f}x)"
        )


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
    asyncio.run(main(parser.parse_args()))
