"""The distributor CSV (48,000 SKUs x 4 warehouses = 192,000 rows) imported through the
importInventory mutation, over HTTP against a real `onhand serve`, beside baselines measured in
the same run on the same machine.

    python bench/import.py [--rounds 3] [--bounds]

Scenarios, each the time from sending the multipart upload to the mutation's answer:
1. first load: a catalog with no products yet (createMissingProducts): 48,000 products and
   192,000 levels created, 192,000 ledger rows and outbox events;
2. every row changed: the same SKUs with other quantities (192,000 movements);
3. nothing changed: the same file again (every row checked and judged, nothing written).

Baselines:
- raw COPY: the file copied into a plain table with no index (the least reading the file costs);
- write floor: the rows a first load must write (products, levels, ledger rows, outbox events),
  written by bare set-based INSERTs from that COPY, with no checks, no judging and no locks, in
  a second database: the least any correct import of this file can cost with this schema;
- with --bounds, the same floor with every trigger off (`session_replication_role = replica`:
  no foreign key checked, no NOTIFY): not a correct import, but what the rows themselves cost,
  so that a target below it is seen to need a schema without those checks.

Each round runs every side once, one after the other (write floor, raw COPY, then onhand's
three scenarios on a fresh database and server), so that a machine getting busier or quieter
moves every side alike; the table gives each side's median over the rounds and its spread
(fastest-slowest), never the best run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database, free_port, onhand_process
from onhand.db.engine import create_engine
from onhand.inventory.warehouses import create_warehouse
from onhand.seed.generator import WAREHOUSES, generate_csv

console = Console(width=130)  # the whole table, whatever the terminal
IMPORT = """
mutation($input: ImportInventoryInput!) {
  importInventory(input: $input) {
    job { status rowsTotal created updated unchanged failed productsCreated message }
    errors { message }
  }
}"""
RAW_TABLE = """
CREATE TABLE raw_import (
    sku text, product_name text, warehouse_code text, quantity int, safety_stock int,
    reorder_point int, reorder_quantity int
)"""
# What a first load must write, with nothing checked: the same rows and the same event payload.
FLOOR = [
    "INSERT INTO products (sku, name) SELECT DISTINCT ON (sku) sku, product_name FROM raw_import"
    " ORDER BY sku",
    """INSERT INTO inventory_levels (product_id, warehouse_id, on_hand, safety_stock,
        reorder_point, reorder_quantity, version)
    SELECT p.id, w.id, r.quantity, r.safety_stock, r.reorder_point, r.reorder_quantity, 2
    FROM raw_import r JOIN products p ON p.sku = r.sku
    JOIN warehouses w ON w.code = r.warehouse_code
    ORDER BY p.id, w.id""",
    # The ledger rows and their events in one pass over the new levels, each movement's id
    # taken up front (as onhand's ledger does), rather than events read back from the ledger.
    """WITH moves AS MATERIALIZED (
        SELECT l.*, nextval('inventory_movements_id_seq') AS movement_id
        FROM inventory_levels l ORDER BY l.id
    ),
    ledger AS (
        INSERT INTO inventory_movements (id, change_id, level_id, product_id, warehouse_id,
            type, reason, source, actor, reference_id, correlation_id, d_on_hand,
            d_safety_stock, on_hand, reserved, committed, incoming, damaged, quarantined,
            safety_stock)
        SELECT m.movement_id, 1, m.id, m.product_id, m.warehouse_id, 'INITIAL', 'CSV import',
            'IMPORT', 'bench', 'import-1', 'import-1', m.on_hand, m.safety_stock, m.on_hand, 0,
            0, 0, 0, 0, m.safety_stock
        FROM moves m
    )
    INSERT INTO outbox (topic, product_id, warehouse_id, payload)
    SELECT 'INVENTORY_UPDATED', m.product_id, m.warehouse_id, json_build_object(
        'movementId', m.movement_id, 'changeId', 1, 'levelId', m.id,
        'productId', m.product_id, 'warehouseId', m.warehouse_id, 'type', 'INITIAL',
        'reason', 'CSV import', 'source', 'IMPORT', 'actor', 'bench', 'referenceId', 'import-1',
        'correlationId', 'import-1', 'channelId', NULL, 'reservationId', NULL,
        'occurredAt', now(), 'version', 2,
        'before', json_build_object('on_hand', 0, 'reserved', 0, 'committed', 0, 'incoming', 0,
            'damaged', 0, 'quarantined', 0, 'safety_stock', 0, 'available', 0),
        'after', json_build_object('on_hand', m.on_hand, 'reserved', 0, 'committed', 0,
            'incoming', 0, 'damaged', 0, 'quarantined', 0, 'safety_stock', m.safety_stock,
            'available', m.on_hand - m.safety_stock))
    FROM moves m""",
]


async def warehouses(db: Database) -> None:
    engine = create_engine(db.url)
    async with engine.begin() as conn:
        for values in WAREHOUSES:
            await create_warehouse(conn, values)
    await engine.dispose()


async def raw_copy(db: Database, path: Path) -> float:
    conn = await asyncpg.connect(db.plain_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS raw_import")
        await conn.execute(RAW_TABLE)
        start = time.perf_counter()
        await conn.copy_to_table("raw_import", source=str(path), format="csv", header=True)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def write_floor(path: Path, *, triggers: bool = True) -> float:
    async with Database.fresh() as db:
        await warehouses(db)
        conn = await asyncpg.connect(db.plain_url)
        try:
            await conn.execute(RAW_TABLE)
            await conn.execute("SET work_mem = '64MB'")
            if not triggers:
                await conn.execute("SET session_replication_role = replica")
            start = time.perf_counter()
            async with conn.transaction():
                await conn.copy_to_table("raw_import", source=str(path), format="csv", header=True)
                for statement in FLOOR:
                    await conn.execute(statement)
            return time.perf_counter() - start
        finally:
            await conn.close()


async def upload(url: str, token: str, path: Path, **options: object) -> tuple[float, dict]:
    operations = {"query": IMPORT, "variables": {"input": {"file": None, **options}}}
    async with httpx.AsyncClient(timeout=900) as http:
        start = time.perf_counter()
        with path.open("rb") as file:
            response = await http.post(
                f"{url}/graphql",
                headers={"Authorization": f"Bearer {token}"},
                data={
                    "operations": json.dumps(operations),
                    "map": json.dumps({"0": ["variables.input.file"]}),
                },
                files={"0": (path.name, file, "text/csv")},
            )
        elapsed = time.perf_counter() - start
    response.raise_for_status()
    payload = response.json()["data"]["importInventory"]
    if payload["errors"]:
        raise RuntimeError(f"the import failed: {payload['errors'][:3]}")
    return elapsed, payload["job"]


async def settle(db: Database) -> float:
    """Wait until the relay has published the last import's events and the dirty pages are
    written out (both would otherwise share the machine with the next run); returns the
    seconds until the events were published."""
    started = time.perf_counter()
    conn = await asyncpg.connect(db.plain_url)
    try:
        while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)"):
            await asyncio.sleep(0.1)
        published = time.perf_counter() - started
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return published


async def job_seconds(db: Database) -> float:
    """The last job's time in the server, from its start to its end."""
    conn = await asyncpg.connect(db.plain_url)
    try:
        return float(
            await conn.fetchval(
                "SELECT extract(epoch FROM finished_at - created_at) FROM import_jobs"
                " ORDER BY id DESC LIMIT 1"
            )
        )
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="onhand-bench-import-"))
    first = folder / "distributor-42.csv"
    first.write_bytes(generate_csv("distributor", 42))
    changed = folder / "distributor-43.csv"
    changed.write_bytes(generate_csv("distributor", 43))
    rows = first.read_bytes().count(b"\n") - 1
    console.print(f"{rows:,} rows, {first.stat().st_size / 1e6:.1f} MB ({first})")
    scenarios: list[tuple[str, Path, dict[str, object]]] = [
        ("first load", first, {"createMissingProducts": True}),
        ("every row changed", changed, {}),
        ("nothing changed", changed, {}),
    ]

    runs: dict[str, list[float]] = defaultdict(list)
    for round_number in range(1, args.rounds + 1):
        runs["floor"].append(await write_floor(first))
        if args.bounds:
            runs["untriggered"].append(await write_floor(first, triggers=False))
        async with Database.fresh() as db:
            await warehouses(db)
            runs["copy"].append(await raw_copy(db, first))
            with onhand_process(db.url, free_port()) as url:
                await settle(db)
                for label, path, options in scenarios:
                    elapsed, job = await upload(url, db.token, path, **options)
                    runs[label].append(elapsed)
                    runs[f"{label}, in the job"].append(await job_seconds(db))
                    published = await settle(db)
                    said = job["message"]
                    console.print(
                        f"round {round_number}, {label}: {elapsed:.2f} s: {said}; its events"
                        f" published {published:.1f} s after the answer"
                    )

    copy, floor = statistics.median(runs["copy"]), statistics.median(runs["floor"])
    table = Table(
        title=f"importing {rows:,} rows",
        caption=f"median of {args.rounds} interleaved rounds; spread: fastest-slowest",
    )
    for column in ("", "seconds", "spread", "in the job", "x raw COPY", "x write floor", "rows/s"):
        table.add_column(column, justify="right")
    table.add_row(
        "raw COPY into a plain table",
        f"{copy:.3f}",
        spread(runs["copy"], 3),
        "",
        "1.0",
        "",
        f"{rows / copy:,.0f}",
    )
    table.add_row(
        "write floor (bare INSERTs)",
        f"{floor:.2f}",
        spread(runs["floor"]),
        "",
        f"{floor / copy:.0f}",
        "1.0",
        "",
    )
    if args.bounds:
        untriggered = statistics.median(runs["untriggered"])
        table.add_row(
            "write floor, triggers off (a bound)",
            f"{untriggered:.2f}",
            spread(runs["untriggered"]),
            "",
            f"{untriggered / copy:.0f}",
            f"{untriggered / floor:.2f}",
            "",
        )
    for label, _, _ in scenarios:
        elapsed = statistics.median(runs[label])
        table.add_row(
            f"importInventory: {label}",
            f"{elapsed:.2f}",
            spread(runs[label]),
            f"{statistics.median(runs[f'{label}, in the job']):.2f}",
            f"{elapsed / copy:.0f}",
            f"{elapsed / floor:.2f}" if label == "first load" else "",
            f"{rows / elapsed:,.0f}",
        )
    console.print(table)


def spread(times: list[float], digits: int = 2) -> str:
    return f"{min(times):.{digits}f}-{max(times):.{digits}f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every side")
    parser.add_argument(
        "--bounds", action="store_true", help="also the write floor with every trigger off"
    )
    asyncio.run(main(parser.parse_args()))
