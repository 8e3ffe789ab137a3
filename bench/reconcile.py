"""reconcileInventory over many levels, beside the bare comparison query.

    python bench/reconcile.py [--levels 200000] [--warehouses 4] [--corrupt 10]

Fills a fresh database with `--levels` levels (products spread over `--warehouses`
warehouses), stocked through the ledger (one INITIAL movement each, in large changes).
Then times:

- onhand: inventory/reconciliation.reconcile (the run stored, discrepancies written, earlier
  ones superseded, the event appended), for every warehouse;
- direct (the baseline): the bare question asked in SQL: levels whose buckets differ from the
  sums of their ledger deltas (a count, nothing stored).

Then corrupts `--corrupt` levels with a raw UPDATE and checks that a run finds them all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database
from onhand.db.engine import create_engine
from onhand.inventory.counts.reconciliation import reconcile
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    apply_change,
)

BATCH = 10_000
BASELINE = """
SELECT count(*) FROM inventory_levels l
LEFT JOIN (SELECT level_id, sum(d_on_hand) AS on_hand, sum(d_reserved) AS reserved,
    sum(d_committed) AS committed, sum(d_incoming) AS incoming, sum(d_damaged) AS damaged,
    sum(d_quarantined) AS quarantined, sum(d_safety_stock) AS safety_stock
    FROM inventory_movements GROUP BY level_id) s ON s.level_id = l.id
WHERE (l.on_hand, l.reserved, l.committed, l.incoming, l.damaged, l.quarantined,
       l.safety_stock)
   IS DISTINCT FROM (coalesce(s.on_hand, 0), coalesce(s.reserved, 0),
       coalesce(s.committed, 0), coalesce(s.incoming, 0), coalesce(s.damaged, 0),
       coalesce(s.quarantined, 0), coalesce(s.safety_stock, 0))
"""


async def fill(engine, levels: int, warehouses: int) -> None:  # type: ignore[no-untyped-def]
    per = -(-levels // warehouses)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO warehouses (code, name) SELECT 'W' || g, 'W' || g"
                " FROM generate_series(1, :n) g"
            ),
            {"n": warehouses},
        )
        await conn.execute(
            text(
                "INSERT INTO products (sku, name) SELECT 'S' || g, 'S' || g"
                " FROM generate_series(1, :n) g"
            ),
            {"n": per},
        )
    context = ChangeContext("bench", MovementSource.IMPORT, create_missing_levels=True)
    pairs = [(p, w) for w in range(1, warehouses + 1) for p in range(1, per + 1)][:levels]
    for start in range(0, len(pairs), BATCH):
        chunk = pairs[start : start + BATCH]
        movements = [
            Movement(p, w, MovementType.INITIAL, Quantities(on_hand=100)) for p, w in chunk
        ]
        async with engine.begin() as conn:
            await apply_change(conn, movements, context)


async def main(args: argparse.Namespace) -> None:
    async with Database.fresh() as db:
        engine = create_engine(db.url)
        started = time.perf_counter()
        await fill(engine, args.levels, args.warehouses)
        print(f"filled {args.levels:,} levels in {time.perf_counter() - started:.1f} s")

        # Twice each, the second timed: both then read warm caches.
        for _ in range(2):
            async with engine.connect() as conn:
                started = time.perf_counter()
                wrong = (await conn.execute(text(BASELINE))).scalar_one()
                direct = time.perf_counter() - started
            async with engine.begin() as conn:
                started = time.perf_counter()
                run = await reconcile(conn, None, "bench")
                onhand = time.perf_counter() - started
        assert run.discrepancy_count == 0, run
        assert wrong == 0, wrong
        print(f"onhand reconcile: {onhand:.3f} s for {run.levels_checked:,} levels")
        print(f"direct SQL count: {direct:.3f} s")
        print(f"ratio onhand/direct: {onhand / direct:.2f}")

        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE inventory_levels SET on_hand = on_hand + 1"
                    " WHERE id IN (SELECT id FROM inventory_levels ORDER BY random() LIMIT :n)"
                ),
                {"n": args.corrupt},
            )
        async with engine.begin() as conn:
            run = await reconcile(conn, None, "bench")
        assert run.discrepancy_count == args.corrupt, run
        print(f"corrupted {args.corrupt} levels: {run.discrepancy_count} found")
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", type=int, default=200_000)
    parser.add_argument("--warehouses", type=int, default=4)
    parser.add_argument("--corrupt", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
