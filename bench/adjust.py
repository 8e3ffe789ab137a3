"""adjustInventory through GraphQL beside the fewest writes it needs.

    python bench/adjust.py [--seconds 8] [--concurrency 16] [--rounds 3] [--levels 5000]
                           [--workers 1]

Starts a fresh database (one warehouse, `levels` stocked levels), then, on one hot level and
then on a random one of the `levels` each time, interleaved (baseline, onhand, baseline,
onhand, ...) for `rounds` rounds of `seconds` each:

1. baseline: the physical limit. The fewest durable writes an adjustment needs, in onhand's
   own tables (sql/adjust_fewest_writes.sql: the conditional level update, its ledger row and
   its INVENTORY_UPDATED event) as one function call per adjustment, driven by pgbench with
   `concurrency` connections;
2. onhand: adjustInventory mutations (+1, reason RECEIPT) over HTTP/1.1 keep-alive
   connections, `concurrency` in flight, from a minimal raw socket client in this process
   (a full HTTP client would take the CPU the server needs on a small machine) against
   `onhand serve` with ONHAND_WORKERS=`workers`, started for each run.

Prints each side's median rate, spread, p50 and p99, and onhand / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from sqlalchemy import text

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
from onhand.db.engine import create_engine
from onhand.events.payloads import global_id
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Settings,
    StockRule,
    apply_change,
)

console = Console(width=150)
HERE = Path(__file__).resolve().parent
MUTATION = (
    "mutation($input: AdjustInventoryInput!) { adjustInventory(input: $input) {"
    " inventoryLevel { quantity available version } errors { code message } } }"
)
STOCK = 1_000_000_000
FEWEST_WRITES = (HERE / "sql" / "adjust_fewest_writes.sql").read_text()


async def make_levels(db: Database, count: int) -> list[tuple[int, int]]:
    """`count` products stocked at one warehouse, through the ledger like any import."""
    product, warehouse = await db.level()
    engine = create_engine(db.url)
    async with engine.begin() as conn:
        rows = await conn.execute(
            text(
                "INSERT INTO products (sku, name) SELECT 'BENCH-' || g, 'bench'"
                " FROM generate_series(1, :n) g RETURNING id"
            ),
            {"n": count - 1},
        )
        ids = [product, *(row.id for row in rows)]
        await apply_change(
            conn,
            [
                Movement(
                    p,
                    warehouse,
                    MovementType.SET,
                    set_to=Settings(on_hand=STOCK),
                    rule=StockRule.PHYSICAL,
                )
                for p in ids
            ],
            ChangeContext(actor="bench", source=MovementSource.IMPORT, create_missing_levels=True),
        )
    await engine.dispose()
    # pgbench picks a product id in [first, last]: every id in between must be a level.
    assert ids == list(range(ids[0], ids[0] + count)), "product ids are not contiguous"
    return [(p, warehouse) for p in ids]


# -- the baseline: the fewest writes, one call each, driven by pgbench -----------------------


def baseline_rate(
    db: Database, levels: list[tuple[int, int]], hot: bool, seconds: float, clients: int
) -> Rate:
    first, last = levels[0][0], levels[-1][0]
    product = f"\\set product {first}\n" if hot else f"\\set product random({first}, {last})\n"
    script = product + f"SELECT bench_adjust(:product, {levels[0][1]}, 1);\n"
    return baseline(db, script, clients, seconds)


# -- onhand: a minimal HTTP/1.1 keep-alive client --------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection sending GraphQL POSTs; just enough HTTP."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, token: str
    ) -> None:
        self.reader, self.writer = reader, writer
        self.head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()

    async def post(self, body: bytes) -> bytes:
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        answer = await self.reader.readexactly(length)
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{status!r}: {answer[:200]!r}")
        return answer


async def drive(
    url: str,
    token: str,
    bodies: list[bytes],
    pick: Callable[[], int],
    concurrency: int,
    seconds: float,
) -> Rate:
    """Closed loop: `concurrency` connections, each sending as soon as its answer comes."""
    latencies: list[float] = []
    port = int(url.rsplit(":", 1)[1])
    cpu_before = server_cpu_seconds(url)
    stop_at = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        http = HttpConnection(reader, writer, f"127.0.0.1:{port}", token)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            answer = await http.post(bodies[pick()])
            if b'"errors":[]' not in answer:
                raise RuntimeError(answer[:300])
            latencies.append((time.perf_counter() - started) * 1000)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = server_cpu_seconds(url) - cpu_before
    return rate_of(len(latencies), elapsed, latencies, cpu)


def onhand_rate(
    db: Database, levels: list[tuple[int, int]], hot: bool, args: argparse.Namespace
) -> Rate:
    """One run against a server started for it (and stopped before the baseline runs, so
    that its background loops take nothing from the baseline's time)."""
    # Built up front, so that the client spends its CPU on sending, not on json.dumps.
    bodies = [
        json.dumps(
            {
                "query": MUTATION,
                "variables": {
                    "input": {
                        "productId": global_id("Product", product),
                        "warehouseId": global_id("Warehouse", warehouse),
                        "adjustment": 1,
                        "reason": "RECEIPT",
                    }
                },
            }
        ).encode()
        for product, warehouse in levels
    ]
    pick = (lambda: 0) if hot else (lambda: random.randrange(len(bodies)))
    with onhand_process(db.url, free_port(), ONHAND_WORKERS=str(args.workers)) as url:
        if wrk.available():
            return wrk.wrk_rate(
                url,
                db.token,
                bodies[:1] if hot else bodies,
                args.seconds,
                args.concurrency,
                in_order=False,
            )
        return asyncio.run(drive(url, db.token, bodies, pick, args.concurrency, args.seconds))


# -- main ------------------------------------------------------------------------------------


def measure(db: Database, levels: list[tuple[int, int]], args: argparse.Namespace) -> None:
    table = comparison_table(
        "adjustInventory: onhand against the fewest writes (pgbench)",
        f"{args.concurrency} connections each side; median of {args.rounds} interleaved runs of"
        f" {args.seconds:g} s (spread: slowest-fastest); onhand is `onhand serve` with"
        f" ONHAND_WORKERS={args.workers}",
    )
    for hot in (True, False):
        label = "one hot level" if hot else f"spread over {len(levels):,} levels"
        sides = {
            "baseline: one function call (pgbench)": lambda hot=hot: baseline_rate(
                db, levels, hot, args.seconds, args.concurrency
            ),
            "onhand (GraphQL over HTTP)": lambda hot=hot: onhand_rate(db, levels, hot, args),
        }
        add_comparison(table, label, interleaved(sides, args.rounds), console.print)
    console.print(table)


async def main(args: argparse.Namespace) -> None:
    async with Database.fresh() as db:
        console.print(f"setting up: 1 warehouse, {args.levels:,} levels")
        levels = await make_levels(db, args.levels)
        await db.execute(FEWEST_WRITES)
        # The runs block (pgbench, a server started per run, their own event loops).
        await asyncio.to_thread(measure, db, levels, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=16, help="in flight, each side")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument("--levels", type=int, default=5000, help="the spread workload's levels")
    parser.add_argument("--workers", type=int, default=1, help="ONHAND_WORKERS of onhand serve")
    asyncio.run(main(parser.parse_args()))
