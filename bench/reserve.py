"""Reservations: through GraphQL beside the same SQL transaction run directly, and the sweeper.

    python bench/reserve.py [--seconds 8] [--concurrency 64] [--skus 48000] [--expired 100000]

Starts a fresh database (one warehouse, one channel, a hot SKU and `skus` more), then:

1. raw: the transaction createReservation runs (lock the channel x product row and the
   levels, insert the reservation with its event, apply the ledger movement), its very SQL
   statements sent with asyncpg from `concurrency` connections, for `seconds`: on one hot SKU,
   then on a random SKU of `skus` each time;
2. graphql: createReservation documents over HTTP/1.1 keep-alive connections (a minimal raw
   socket client in its own process, so that the client takes little of the CPU the server
   needs) against one `onhand serve`, on the same two workloads; with request coalescing on
   (the default) and off;
3. sweeper: `expired` reservations made through the domain, then made due, then released by
   one sweeper (batch after batch), timed; rows per second.

Prints transactions per second and the GraphQL / raw ratio for each workload.
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

import asyncpg
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database, free_port, onhand_process
from onhand.core.refs import Ref
from onhand.db.engine import create_engine
from onhand.inventory import ledger
from onhand.inventory.channels.registry import ChannelRef, create_channel
from onhand.inventory.ledger import ChangeContext, Movement, MovementSource, MovementType
from onhand.inventory.reservations import reserving
from onhand.inventory.reservations.model import ReservationType
from onhand.inventory.reservations.state import LOCK
from onhand.inventory.warehouses import create_warehouse
from onhand.workers.sweeper import sweep_all

console = Console()
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


# -- raw: the same SQL transaction with asyncpg ---------------------------------------------


def _asyncpg_sql(statement: Any, params: dict[str, Any]) -> tuple[str, list[Any]]:
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
    positions = compiled.positiontup or []
    return compiled.string, [params[name] for name in positions]


class RawReservation:
    """The statements createReservation sends, prepared once per connection."""

    def __init__(self, world: dict[str, Any]) -> None:
        self.world = world
        one = {"channels": [1], "products": [1], "warehouses": [None]}
        self.lock_sql, _ = _asyncpg_sql(LOCK, one)
        self.lock_names = list(LOCK.compile(dialect=postgresql.asyncpg.dialect()).positiontup)
        insert = reserving._INSERT
        self.insert_sql = str(insert.compile(dialect=postgresql.asyncpg.dialect()))
        self.insert_names = list(insert.compile(dialect=postgresql.asyncpg.dialect()).positiontup)
        apply = text(ledger._APPLY_SQL)
        self.apply_sql = str(apply.compile(dialect=postgresql.asyncpg.dialect()))
        self.apply_names = list(apply.compile(dialect=postgresql.asyncpg.dialect()).positiontup)

    async def once(self, conn: asyncpg.Connection, product: int) -> None:
        w = self.world
        async with conn.transaction():
            await conn.fetchrow(
                self.lock_sql,
                *self._values(
                    self.lock_names,
                    {
                        "channels": [w["channel"]],
                        "products": [product],
                        "warehouses": [None],
                    },
                ),
            )
            made = await conn.fetchrow(
                self.insert_sql,
                *self._values(
                    self.insert_names,
                    {
                        "type": ["CART"],
                        "product_id": [product],
                        "warehouse_id": [w["warehouse"]],
                        "channel_id": [w["channel"]],
                        "quantity": [1],
                        "reference_id": ["cart"],
                        "variant_id": [None],
                        "expires_at": [None],
                        "ttl": [1800.0],
                        "actor": "bench",
                    },
                ),
            )
            columns = ledger._columns(
                [
                    Movement(
                        product,
                        w["warehouse"],
                        MovementType.RESERVED,
                        ledger.Quantities(reserved=1),
                        channel_id=w["channel"],
                        reservation_id=made["id"],
                        reference_id="cart",
                    )
                ]
            )
            await conn.fetch(
                self.apply_sql,
                *self._values(
                    self.apply_names,
                    {
                        **columns,
                        "source": "API",
                        "actor": "bench",
                        "correlation_id": None,
                        "occurred_at": None,
                    },
                ),
            )

    @staticmethod
    def _values(names: list[str], params: dict[str, Any]) -> list[Any]:
        return [params[name] for name in names]


async def raw_rate(
    db: Database, world: dict[str, Any], hot: bool, seconds: float, concurrency: int
) -> float:
    raw = RawReservation(world)
    pool = await asyncpg.create_pool(
        db.plain_url, min_size=concurrency, max_size=concurrency, server_settings={"jit": "off"}
    )
    done = 0
    deadline = time.perf_counter() + seconds
    spread = world["spread"]

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                product = world["hot"] if hot else random.choice(spread)
                await raw.once(conn, product)
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return done / elapsed


# -- graphql: a minimal HTTP/1.1 keep-alive client in its own process ------------------------


async def _client(
    port: int, token: str, bodies: list[bytes], seconds: float, concurrency: int
) -> dict[str, Any]:
    ok = errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(index: int) -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        while time.perf_counter() < deadline:
            body = bodies[(index + sent * concurrency) % len(bodies)]
            sent += 1
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
            else:
                errors += 1
                if errors < 3:
                    print(payload[:300], file=sys.stderr)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(concurrency)))
    return {"ok": ok, "errors": errors, "seconds": time.perf_counter() - started}


def client_main() -> None:
    spec = json.loads(sys.stdin.read())
    bodies = [b.encode() for b in spec["bodies"]]
    result = asyncio.run(
        _client(spec["port"], spec["token"], bodies, spec["seconds"], spec["concurrency"])
    )
    print(json.dumps(result))


def graphql_rate(
    url: str, token: str, world: dict[str, Any], hot: bool, seconds: float, concurrency: int
) -> float:
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
    found = subprocess.run(
        [sys.executable, __file__, "--client"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    if found.stderr.strip():
        console.print(f"[yellow]{found.stderr.strip()[:600]}")
    result = json.loads(found.stdout)
    if result["errors"]:
        console.print(f"[red]{result['errors']} requests failed")
    return result["ok"] / result["seconds"]


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


async def main(args: argparse.Namespace) -> None:
    async with Database.fresh() as db:
        console.print(f"setting up: 1 warehouse, 1 channel, 1 hot SKU + {args.skus:,} SKUs")
        world = await setup(db, args.skus)
        rows = []
        for hot in () if args.only_sweeper else (True, False):
            label = "one hot SKU" if hot else f"spread over {args.skus:,} SKUs"
            raw = await raw_rate(db, world, hot, args.seconds, args.concurrency)
            console.print(f"raw SQL, {label}: {raw:,.0f} tx/s")
            results = {}
            for coalesce in (True, False):
                env = {
                    "ONHAND_COALESCE_RESERVATIONS": "true" if coalesce else "false",
                    "ONHAND_DB_POOL_SIZE": "24",
                    "ONHAND_DB_MAX_OVERFLOW": "0",
                }
                with onhand_process(db.url, free_port(), **env) as url:
                    rate = await asyncio.to_thread(
                        graphql_rate, url, db.token, world, hot, args.seconds, args.concurrency
                    )
                results[coalesce] = rate
                console.print(f"graphql, {label}, coalescing {coalesce}: {rate:,.0f} req/s")
            rows.append((label, raw, results[True], results[False]))
        table = Table(title="createReservation: GraphQL vs the same SQL transaction")
        table.caption = (
            f"{args.concurrency} concurrent clients; GraphQL against one `onhand serve` process"
        )
        for column in (
            "workload",
            "raw SQL tx/s",
            "GraphQL req/s",
            "ratio",
            "GraphQL, no coalescing",
            "ratio",
        ):
            table.add_column(column, justify="right")
        for label, raw, on, off in rows:
            table.add_row(
                label,
                f"{raw:,.0f}",
                f"{on:,.0f}",
                f"{on / raw:.0%}",
                f"{off:,.0f}",
                f"{off / raw:.0%}",
            )
        console.print(table)
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
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skus", type=int, default=48_000)
    parser.add_argument("--expired", type=int, default=100_000)
    parser.add_argument("--sweepers", type=int, default=2, help="sweeper transactions at once")
    parser.add_argument("--only-sweeper", action="store_true")
    asyncio.run(main(parser.parse_args()))
