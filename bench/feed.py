"""The channel change feed: a full snapshot and a 1,000-change page through GraphQL, beside the
same SQL run directly with asyncpg.

    python bench/feed.py [--skus 48000] [--changes 1000] [--page 10000] [--repeat 3]

Starts a fresh database (two warehouses linked to one BATCH channel, `skus` products stocked
at both through the ledger), one `onhand serve`, then times:

1. snapshot: every page of channelFeed without a cursor (`page` products a page), against
   the snapshot's own statement (the channel's products with their ATS) run page by page
   with asyncpg;
2. changes: `changes` products adjusted in one ledger transaction, then one channelFeed page
   after the snapshot's cursor, against its statements (the products changed since the
   cursor, then their ATS) run with asyncpg.

Each figure is the median of `repeat` runs, the sides interleaved, with the spread.
Target: the snapshot of 48,000 SKUs under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database, free_port, onhand_process
from onhand.core.refs import Ref
from onhand.db.engine import create_engine
from onhand.inventory import ledger
from onhand.inventory.channels import feed as channel_feed
from onhand.inventory.channels.registry import ChannelKind, create_channel
from onhand.inventory.ledger import ChangeContext, Movement, MovementSource, MovementType
from onhand.inventory.warehouses import create_warehouse

console = Console()
CHANNEL = "MARKETPLACE"
PERCENT = 5.0
# `entries` (the compact form) is what a bulk sync reads; `items` (objects) for comparison.
FEED = (
    'query($after: String, $first: Int!) { channelFeed(channelCode: "MARKETPLACE", '
    "after: $after, first: $first) { %s cursor hasMore } }"
)
ENTRIES = FEED % "entries"
ITEMS = FEED % "items { productId sku availableToSell }"


def asyncpg_sql(statement: Any) -> tuple[str, list[str]]:
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
    return compiled.string, list(compiled.positiontup or [])


async def setup(db: Database, skus: int) -> dict[str, Any]:
    engine = create_engine(db.url)
    async with engine.begin() as conn:
        warehouses = [
            await create_warehouse(conn, {"code": f"DC-{n}", "name": "bench"}) for n in (1, 2)
        ]
        channel = await create_channel(
            conn,
            {
                "code": CHANNEL,
                "name": "bench",
                "kind": str(ChannelKind.BATCH),
                "safety_buffer_percent": PERCENT,
            },
            [Ref(id=w.id) for w in warehouses],
        )
        await conn.execute(
            text(
                "INSERT INTO products (sku, name)"
                " SELECT 'SKU-' || g, 'bench' FROM generate_series(1, :n) g"
            ),
            {"n": skus},
        )
        ids = (await conn.execute(text("SELECT id FROM products ORDER BY id"))).scalars().all()
    # Stock arrives through the ledger, as any stock does.
    context = ChangeContext(actor="bench", source=MovementSource.IMPORT, create_missing_levels=True)
    for warehouse in warehouses:
        for start in range(0, len(ids), 10_000):
            async with engine.begin() as conn:
                await ledger.apply_change(
                    conn,
                    [
                        Movement(
                            pid,
                            warehouse.id,
                            MovementType.INITIAL,
                            ledger.Quantities(on_hand=100 + pid % 50),
                        )
                        for pid in ids[start : start + 10_000]
                    ],
                    context,
                )
    await engine.dispose()
    return {"channel": channel.id, "warehouse": warehouses[0].id, "products": ids}


async def change(db: Database, world: dict[str, Any], count: int) -> None:
    engine = create_engine(db.url)
    context = ChangeContext(actor="bench", source=MovementSource.SYSTEM)
    async with engine.begin() as conn:
        await ledger.apply_change(
            conn,
            [
                Movement(pid, world["warehouse"], MovementType.ADJUSTMENT, ledger.Quantities(-1))
                for pid in world["products"][:: max(1, len(world["products"]) // count)][:count]
            ],
            context,
        )
    await engine.dispose()


async def published(db: Database) -> None:
    conn = await asyncpg.connect(db.plain_url)
    try:
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE sequence IS NULL"):
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


@dataclass
class Timed:
    """One side's runs: the median and the spread (never the best run), and its last result."""

    times: list[float] = field(default_factory=list)
    result: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def shown(self, digits: int = 0) -> str:
        low, high = min(self.times) * 1000, max(self.times) * 1000
        return f"{self.median * 1000:,.{digits}f} ms ({low:,.{digits}f}-{high:,.{digits}f})"


async def interleaved(
    repeat: int, sides: dict[str, Callable[[], Awaitable[Any]]]
) -> dict[str, Timed]:
    """Each side run `repeat` times, alternating (A, B, A, B, ...), so that a machine getting
    busier or quieter moves every side alike."""
    found = {name: Timed() for name in sides}
    for _ in range(repeat):
        for name, run in sides.items():
            started = time.perf_counter()
            found[name].result = await run()
            found[name].times.append(time.perf_counter() - started)
    return found


class Raw:
    """The feed's statements, sent with asyncpg."""

    def __init__(self, conn: asyncpg.Connection, channel: int, percent: float) -> None:
        self.conn = conn
        self.channel = channel
        self.percent = str(percent)
        self.items_sql, self.items_names = asyncpg_sql(channel_feed._ITEMS)
        self.changed_sql, self.changed_names = asyncpg_sql(channel_feed._CHANGED)

    async def products(self, after: int | None, limit: int, ids: list[int] | None) -> list[Any]:
        values = {
            "channel": self.channel,
            "after": after or 0,
            "limit": limit,
            "products": ids,
            "percent": self.percent,
            "sells": True,
        }
        return list(await self.conn.fetch(self.items_sql, *[values[n] for n in self.items_names]))

    async def snapshot(self, page: int) -> int:
        total, after = 0, None
        while True:
            rows = await self.products(after, page + 1, None)
            total += min(len(rows), page)
            if len(rows) <= page:
                return total
            after = rows[page - 1]["product_id"]

    async def changes(self, after: int, until: int, first: int) -> int:
        values = {
            "after": after,
            "until": until,
            "topics": list(channel_feed.TOPICS),
            "channel": self.channel,
            "limit": first + 1,
        }
        changed = await self.conn.fetch(self.changed_sql, *[values[n] for n in self.changed_names])
        ids = [r["product_id"] for r in changed[:first]]
        return len(await self.products(None, len(ids), ids))


async def graphql_pages(
    http: httpx.AsyncClient,
    token: str,
    after: str | None,
    first: int,
    all_pages: bool,
    query: str = ENTRIES,
) -> tuple[int, str]:
    total = 0
    while True:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": {"after": after, "first": first}},
            headers={"Authorization": f"Bearer {token}"},
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        page = body["data"]["channelFeed"]
        total += len(page["entries"] if "entries" in page else page["items"])
        after = page["cursor"]
        if not (all_pages and page["hasMore"]):
            return total, after


async def main(args: argparse.Namespace) -> None:
    async with Database.fresh() as db:
        console.print(f"setting up: 2 warehouses, 1 BATCH channel, {args.skus:,} SKUs")
        world = await setup(db, args.skus)
        with onhand_process(db.url, free_port()) as url:
            await published(db)
            conn = await asyncpg.connect(db.plain_url)
            raw = Raw(conn, world["channel"], PERCENT)
            async with httpx.AsyncClient(base_url=url, timeout=120) as http:
                await graphql_pages(http, db.token, None, args.page, True)  # warm up
                snapshots = await interleaved(
                    args.repeat,
                    {
                        "raw": lambda: raw.snapshot(args.page),
                        "entries": lambda: graphql_pages(http, db.token, None, args.page, True),
                        "items": lambda: graphql_pages(
                            http, db.token, None, args.page, True, ITEMS
                        ),
                    },
                )
                count, cursor = snapshots["entries"].result
                assert count == snapshots["raw"].result == args.skus, count
                await change(db, world, args.changes)
                await published(db)
                until = await conn.fetchval("SELECT last_sequence FROM outbox_cursor")
                pages = await interleaved(
                    args.repeat,
                    {
                        "raw": lambda: raw.changes(int(cursor), until, args.changes),
                        "graphql": lambda: graphql_pages(
                            http, db.token, cursor, args.changes, False
                        ),
                    },
                )
                changed, _ = pages["graphql"].result
                assert changed == pages["raw"].result == args.changes, changed
            await conn.close()
        table = Table(title="channelFeed: GraphQL vs the same SQL with asyncpg")
        table.caption = (
            f"median (fastest-slowest) of {args.repeat} interleaved runs; snapshot pages of"
            f" {args.page:,} products"
        )
        for column in ("workload", "raw SQL", "GraphQL", "ratio (raw / GraphQL)"):
            table.add_column(column, justify="right")
        raw_snapshot = snapshots["raw"]
        for label, side in (
            ("`entries`", snapshots["entries"]),
            ("`items` objects", snapshots["items"]),
        ):
            table.add_row(
                f"snapshot, {args.skus:,} SKUs, as {label}",
                raw_snapshot.shown(),
                side.shown(),
                f"{raw_snapshot.median / side.median:.0%}",
            )
        table.add_row(
            f"feed page, {args.changes:,} changes",
            pages["raw"].shown(1),
            pages["graphql"].shown(1),
            f"{pages['raw'].median / pages['graphql'].median:.0%}",
        )
        console.print(table)
        snapshot = snapshots["entries"].median
        verdict = "meets" if snapshot < 1 else "misses"
        console.print(f"snapshot through GraphQL: {snapshot:.2f} s ({verdict} the 1 s target)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=48_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--page", type=int, default=10_000, help="snapshot page size")
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
