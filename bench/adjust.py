"""adjustInventory: GraphQL over HTTP beside the same transaction run directly with asyncpg.

    python bench/adjust.py [--seconds 10] [--concurrency 32] [--levels 5000]

Starts a fresh database and one `onhand serve` process, then in two scenarios (one hot SKU:
every request moves the same level; spread: each request a random one of `--levels`
levels) drives, for `--seconds` each:

- onhand: adjustInventory mutations over keep-alive HTTP/1.1 connections, `--concurrency` in
  flight, from a minimal asyncio client (a full HTTP client would take the CPU the server
  needs on a small machine);
- direct (the baseline): the same transaction with asyncpg, `--concurrency` connections:
  BEGIN, the ledger's own statement (compiled from inventory/ledger.py), COMMIT.

Prints throughput and p50/p99 latency of both, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database, free_port, onhand_process, percentile
from onhand.db.engine import create_engine
from onhand.events.payloads import global_id
from onhand.inventory import ledger
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    Settings,
    StockRule,
    apply_change,
)

console = Console()
MUTATION = (
    "mutation($input: AdjustInventoryInput!) { adjustInventory(input: $input) {"
    " inventoryLevel { quantity available version } errors { code message } } }"
)
STOCK = 1_000_000_000


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
    return [(p, warehouse) for p in ids]


# -- the load ---------------------------------------------------------------------------------


async def drive(
    make_call: Callable[[], Awaitable[Callable[[int], Awaitable[None]]]],
    pick: Callable[[], int],
    concurrency: int,
    seconds: float,
) -> tuple[float, list[float]]:
    """Closed loop: `concurrency` workers call as fast as answers come. Returns requests/s
    and the latencies (ms)."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        call = await make_call()
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            await call(pick())
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies


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


def graphql_call(port: int, token: str, levels: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    ids = [(global_id("Product", p), global_id("Warehouse", w)) for p, w in levels]

    async def make() -> Callable[[int], Awaitable[None]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = HttpConnection(reader, writer, f"127.0.0.1:{port}", token)

        async def call(index: int) -> None:
            product, warehouse = ids[index]
            body = json.dumps(
                {
                    "query": MUTATION,
                    "variables": {
                        "input": {
                            "productId": product,
                            "warehouseId": warehouse,
                            "adjustment": 1,
                            "reason": "RECEIPT",
                        }
                    },
                }
            ).encode()
            answer = await connection.post(body)
            if b'"errors":[]' not in answer:
                raise RuntimeError(answer[:300])

        return call

    return make


def direct_call(pool: asyncpg.Pool, levels: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    """The ledger's statement for one adjustment, in its own transaction, through asyncpg."""
    compiled = text(ledger._APPLY_SQL).compile(dialect=asyncpg_dialect.dialect())
    sql = str(compiled)
    order = compiled.positiontup or []

    def arguments(product: int, warehouse: int) -> list[object]:
        movement = Movement(
            product, warehouse, MovementType.RECEIPT, Quantities(on_hand=1), reason="RECEIPT"
        )
        params = {
            **ledger._columns([movement]),
            "source": "API",
            "actor": "bench",
            "correlation_id": None,
            "occurred_at": None,
        }
        return [params[name] for name in order]

    async def make() -> Callable[[int], Awaitable[None]]:
        async def call(index: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.fetch(sql, *arguments(*levels[index]))

        return call

    return make


async def main(args: argparse.Namespace) -> None:
    async with Database.fresh() as db:
        levels = await make_levels(db, args.levels)
        scenarios = {
            "one hot SKU": lambda: 0,
            f"spread over {args.levels:,} SKUs": lambda: random.randrange(len(levels)),
        }
        results: dict[str, dict[str, tuple[float, list[float]]]] = {}
        port = free_port()
        with onhand_process(db.url, port):
            for name, pick in scenarios.items():
                results[name] = {
                    "onhand": await drive(
                        graphql_call(port, db.token, levels), pick, args.concurrency, args.seconds
                    )
                }
        pool = await asyncpg.create_pool(
            db.plain_url, min_size=args.concurrency, max_size=args.concurrency
        )
        for name, pick in scenarios.items():
            results[name]["direct"] = await drive(
                direct_call(pool, levels), pick, args.concurrency, args.seconds
            )
        await pool.close()

    table = Table(title=f"adjustInventory, {args.concurrency} in flight, {args.seconds:g} s each")
    for column in ("scenario", "path", "requests/s", "p50 ms", "p99 ms", "vs direct"):
        table.add_column(column, justify="right")
    for name, paths in results.items():
        direct = paths["direct"][0]
        for path, (rate, latencies) in paths.items():
            table.add_row(
                name,
                path,
                f"{rate:,.0f}",
                f"{percentile(latencies, 50):.1f}",
                f"{percentile(latencies, 99):.1f}",
                f"{rate / direct:.0%}",
            )
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--levels", type=int, default=5000)
    asyncio.run(main(parser.parse_args()))
