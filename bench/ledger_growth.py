"""adjustInventory with an empty ledger beside the same with 10 million ledger rows.

    python bench/ledger_growth.py [--rows 10000000] [--months 6] [--seconds 8] [--rounds 3]
                                  [--concurrency 16] [--levels 5000]

Starts two fresh databases set up alike (one warehouse, `levels` stocked levels, the
baseline's function of bench/adjust.py), then loads `rows` ledger rows into the second one:
receipts on 1,000 other levels (whose balances match them, so the books still balance),
recorded evenly over the last `months` months, so that they fill that many monthly partitions
and the current one in part, as a ledger that has grown for half a year would. The load is
set-based (INSERT ... SELECT generate_series, a million rows a statement) and is followed by
VACUUM ANALYZE, as autovacuum would do (the empty database gets one too).

Then, interleaved (empty, grown, empty, grown, ...), `rounds` runs of `seconds` each of:

1. adjustInventory over HTTP on a random one of the `levels` (bench/adjust.py's client and
   server: `onhand serve` started for each run, `concurrency` in flight);
2. the fewest writes of an adjustment as one function call, driven by pgbench
   (bench/adjust.py's baseline): the ledger's write path without onhand's own costs.

Prints each side's median, spread, p50 and p99, and grown / empty (target: within 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adjust import FEWEST_WRITES, baseline_rate, make_levels, onhand_rate
from common import Database, add_comparison, comparison_table, interleaved
from onhand.db.engine import create_engine
from onhand.db.partitions import create_months, months_from

console = Console(width=150)
CHUNK = 1_000_000
HISTORY_LEVELS = 1000

# Receipt number g (1..:total) of the history goes to level g % levels: its on_hand after it
# is the receipts that level has had so far. Recorded evenly from :months ago to now.
_LOAD = """
INSERT INTO inventory_movements (change_id, level_id, product_id, warehouse_id, type, reason,
    source, actor, reference_id, occurred_at, recorded_at, d_on_hand,
    on_hand, reserved, committed, incoming, damaged, quarantined, safety_stock)
SELECT nextval('inventory_change_seq'), l.id, l.product_id, l.warehouse_id, 'RECEIPT',
    'RECEIPT', 'IMPORT', 'history', 'PO-' || (g / 50), t, t, 1,
    (g - g % $4) / $4 + CASE WHEN g % $4 > 0 THEN 1 ELSE 0 END, 0, 0, 0, 0, 0, 0
FROM generate_series($1::bigint, $2::bigint) g
CROSS JOIN LATERAL (SELECT now() - $5::interval * (1 - g::float8 / $3) AS t) ts
JOIN history h ON h.n = g % $4
JOIN inventory_levels l ON l.id = h.level_id
"""


@contextlib.asynccontextmanager
async def connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db.plain_url)
    try:
        yield conn
    finally:
        await conn.close()


async def grow(db: Database, rows: int, months: int) -> None:
    """`rows` receipts on HISTORY_LEVELS levels of their own, over the last `months`."""
    span = timedelta(days=30.5 * months)
    engine = create_engine(db.url)
    async with engine.begin() as conn:
        now = (await conn.exec_driver_sql("SELECT now()")).scalar_one()
        await create_months(conn, "inventory_movements", months_from(now - span, months + 2))
    await engine.dispose()
    async with connection(db) as conn:
        await conn.execute(
            f"""
            INSERT INTO warehouses (code, name) VALUES ('HISTORY', 'history');
            INSERT INTO products (sku, name)
            SELECT 'HISTORY-' || g, 'history' FROM generate_series(1, {HISTORY_LEVELS}) g;
            INSERT INTO inventory_levels (product_id, warehouse_id, on_hand)
            SELECT p.id, w.id, 0 FROM products p, warehouses w
            WHERE p.sku LIKE 'HISTORY-%' AND w.code = 'HISTORY';
            CREATE UNLOGGED TABLE history AS
            SELECT (row_number() OVER (ORDER BY l.id) - 1)::int AS n, l.id AS level_id
            FROM inventory_levels l JOIN warehouses w ON w.id = l.warehouse_id
            WHERE w.code = 'HISTORY';
            """
        )
        await conn.execute("SET synchronous_commit = off")
        started = time.perf_counter()
        for first in range(1, rows + 1, CHUNK):
            last = min(rows, first + CHUNK - 1)
            await conn.execute(_LOAD, first, last, rows, HISTORY_LEVELS, span)
            console.print(f"  loaded {last:,} ledger rows ({time.perf_counter() - started:.0f} s)")
        # The levels' balances are what their receipts add up to.
        await conn.execute(
            """
            UPDATE inventory_levels l SET on_hand = counted.n
            FROM (SELECT level_id, count(*) AS n FROM inventory_movements
                  WHERE actor = 'history' GROUP BY level_id) counted
            WHERE l.id = counted.level_id;
            DROP TABLE history;
            """
        )
        await conn.execute("VACUUM ANALYZE")
        parts = await conn.fetch(
            "SELECT c.relname, c.reltuples::bigint AS rows FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'inventory_movements'::regclass ORDER BY c.relname"
        )
        console.print("  partitions: " + ", ".join(f"{p['relname']} {p['rows']:,}" for p in parts))


def measure(
    empty: Database,
    grown: Database,
    levels: dict[str, list[tuple[int, int]]],
    args: argparse.Namespace,
) -> None:
    table = comparison_table(
        f"adjustInventory: an empty ledger against {args.rows:,} ledger rows",
        f"{args.concurrency} connections; spread over {args.levels:,} levels; median of"
        f" {args.rounds} interleaved runs of {args.seconds:g} s (spread: slowest-fastest);"
        " 'vs baseline' is against the empty ledger",
    )
    for label, run in (
        ("onhand (GraphQL over HTTP)", lambda db, name: onhand_rate(db, levels[name], False, args)),
        (
            "fewest writes (pgbench)",
            lambda db, name: baseline_rate(db, levels[name], False, args.seconds, args.concurrency),
        ),
    ):
        sides = {
            "empty ledger": lambda run=run: run(empty, "empty"),
            f"{args.rows:,} ledger rows": lambda run=run: run(grown, "grown"),
        }
        add_comparison(table, label, interleaved(sides, args.rounds), console.print)
    console.print(table)


async def main(args: argparse.Namespace) -> None:
    async with Database.fresh() as empty, Database.fresh() as grown:
        levels = {}
        for name, db in (("empty", empty), ("grown", grown)):
            console.print(f"setting up {name}: 1 warehouse, {args.levels:,} levels")
            levels[name] = await make_levels(db, args.levels)
            await db.execute(FEWEST_WRITES)
        console.print(f"loading {args.rows:,} ledger rows over {args.months} months")
        await grow(grown, args.rows, args.months)
        # Both alike but for the ledger: the set-up's dead rows vacuumed, statistics fresh.
        await empty.execute("VACUUM ANALYZE")
        await asyncio.to_thread(measure, empty, grown, levels, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=16, help="in flight, each side")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument("--levels", type=int, default=5000, help="levels the writes go to")
    parser.add_argument("--workers", type=int, default=1, help="ONHAND_WORKERS of onhand serve")
    asyncio.run(main(parser.parse_args()))
