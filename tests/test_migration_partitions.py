"""Migration 0019 on a database that already holds a ledger and an outbox: the rows, ids and
sequences come through, the tables are partitioned by month with every index, trigger and
key under its old name, the application's reads and writes work on them, and the downgrade
gives the plain tables back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db import migrate
from onhand.db.engine import create_engine, plain_url
from onhand.events.store import events_after, lost_after
from support import database
from support.client import Client
from support.server import running_server

# A level of 6 on hand, explained by three receipts a month apart (1 + 2 + 3), and their
# three published events: the oldest two months ago, in months of their own.
POPULATE = """
INSERT INTO warehouses (code, name) VALUES ('OLD-1', 'old');
INSERT INTO products (sku, name) VALUES ('OLD-SKU', 'old');
INSERT INTO inventory_levels (product_id, warehouse_id, on_hand)
SELECT p.id, w.id, 6 FROM products p, warehouses w;
INSERT INTO inventory_movements (change_id, level_id, product_id, warehouse_id, type, reason,
    source, actor, recorded_at, occurred_at, d_on_hand, on_hand, reserved, committed, incoming,
    damaged, quarantined, safety_stock)
SELECT nextval('inventory_change_seq'), l.id, l.product_id, l.warehouse_id, 'RECEIPT',
    'RECEIPT', 'MANUAL', 'old', now() - (3 - g) * interval '31 days',
    now() - (3 - g) * interval '31 days', g, g * (g + 1) / 2, 0, 0, 0, 0, 0, 0
FROM inventory_levels l, generate_series(1, 3) g;
INSERT INTO outbox (topic, payload, product_id, warehouse_id, created_at, sequence, published_at)
SELECT 'INVENTORY_UPDATED', jsonb_build_object('n', g), l.product_id, l.warehouse_id,
    now() - (3 - g) * interval '31 days', g, now() - (3 - g) * interval '31 days'
FROM inventory_levels l, generate_series(1, 3) g;
UPDATE outbox_cursor SET last_sequence = 3;
UPDATE webhook_cursor SET last_sequence = 3;
UPDATE alert_cursor SET last_sequence = 3;
"""
TABLES = ("inventory_movements", "outbox")
ADJUST = """
mutation { adjustInventory(input: {sku: "OLD-SKU", warehouseCode: "OLD-1", adjustment: 4,
    reason: "RECEIPT"}) { inventoryLevel { quantity } errors { code } } }"""
HISTORY = """
query($after: String) {
  inventoryMovements(first: 2, after: $after, filter: {sku: "OLD-SKU"}) {
    nodes { changeId actor type }
    pageInfo { hasNextPage endCursor }
  }
}"""
RECONCILE = """
mutation { reconcileInventory { run { levelsChecked discrepancyCount } errors { code } } }"""


async def sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        if not args and ";" in statement:  # a script: several statements, no result
            await conn.execute(statement)
            return []
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def fingerprint(url: str) -> dict[str, Any]:
    """Every row of both tables, and their index, constraint and trigger names. Rows are
    compared as jsonb, so that a payload stored as json (migration 0023) or jsonb reads the
    same."""
    found: dict[str, Any] = {}
    for table in TABLES:
        [row] = await sql(
            url,
            f"SELECT count(*), md5(string_agg(to_jsonb(t)::text, '|' ORDER BY id)) FROM {table} t",
        )
        found[f"{table} rows"] = tuple(row)
        found[f"{table} indexes"] = {
            r["indexname"]
            for r in await sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = $1", table)
        }
        found[f"{table} constraints"] = {
            r["conname"]
            for r in await sql(
                url,
                "SELECT conname FROM pg_constraint WHERE conrelid = CAST($1 AS regclass)",
                table,
            )
        }
    return found


async def kind(url: str, table: str) -> str:
    [row] = await sql(
        url, "SELECT relkind::text AS kind FROM pg_class WHERE oid = CAST($1 AS regclass)", table
    )
    return str(row["kind"])


@pytest.fixture
def old_database(database_server: str) -> Iterator[str]:
    url = database.create(database_server, revision="0018")
    yield url
    database.drop(database_server, url)


@pytest.fixture
def reader(database_server: str) -> Iterator[str]:
    """A role of the server's (roles are server-wide), granted reads by the test."""
    name = f"onhand_reader_{uuid.uuid4().hex[:8]}"
    asyncio.run(sql(database_server, f"CREATE ROLE {name}"))
    yield name
    asyncio.run(sql(database_server, f"DROP ROLE IF EXISTS {name}"))


async def test_a_populated_ledger_and_outbox_are_partitioned_and_keep_working(
    reader: str, old_database: str
) -> None:
    url = old_database
    await sql(url, POPULATE)
    await sql(url, f"GRANT SELECT ON inventory_movements, outbox TO {reader}")
    before = await fingerprint(url)

    # The partitioning keeps every row, index and constraint; the later migrations
    # change some of them (0024 makes uq_outbox_sequence an index of its own), not the rows.
    await migrate.upgrade_async(url, "0019")
    partitioned = await fingerprint(url)
    await migrate.upgrade_async(url)
    after = await fingerprint(url)
    for table in TABLES:
        assert partitioned[f"{table} rows"] == after[f"{table} rows"] == before[f"{table} rows"]
        assert partitioned[f"{table} indexes"] == before[f"{table} indexes"]
        assert partitioned[f"{table} constraints"] == before[f"{table} constraints"]
        assert await kind(url, table) == "p"
        partitions = [
            r["name"]
            for r in await sql(
                url,
                "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c"
                " ON c.oid = i.inhrelid WHERE i.inhparent = CAST($1 AS regclass)",
                table,
            )
        ]
        # The three months of rows, the two ahead (at least: the oldest may fall in the month
        # before) and the default.
        assert len(partitions) >= 6
        assert f"{table}_default" in partitions
        # Each old row is in its own month's partition.
        [spread] = await sql(url, f"SELECT count(DISTINCT tableoid) FROM {table}")
        assert spread[0] == 3
        # Grants come through too.
        [granted] = await sql(url, "SELECT has_table_privilege($1, $2, 'SELECT')", reader, table)
        assert granted[0] is True
    # The sequences are the new tables' own: dropping the old tables kept them.
    owned = await sql(
        url,
        "SELECT d.refobjid::regclass::text AS owner FROM pg_depend d"
        " WHERE d.objid = CAST($1 AS regclass) AND d.deptype = 'a'",
        "inventory_movements_id_seq",
    )
    assert [r["owner"] for r in owned] == ["inventory_movements"]
    # The ledger refuses edits, aimed at the parent or at a partition.
    [newest] = await sql(
        url,
        "SELECT tableoid::regclass::text AS part, id FROM inventory_movements"
        " ORDER BY id DESC LIMIT 1",
    )
    for target in ("inventory_movements", newest["part"]):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await sql(url, f"DELETE FROM {target} WHERE id = $1", newest["id"])

    # The application on the migrated database: the write path, movement history paging,
    # reconciliation against the old rows, the relay numbering after the old sequences.
    engine = create_engine(url)
    async with engine.begin() as conn:
        token = (await create_token(conn, "migrated", Role.ADMIN)).secret
    # Retention off in effect: the old events must come through (test_partition_upkeep.py
    # drops months).
    settings = Settings(
        database_url=url, reconciliation_interval_minutes=0, outbox_retention_days=3650
    )
    try:
        with running_server(settings, url) as base:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                admin = Client(http, token)
                adjusted = await admin(ADJUST)
                assert adjusted["adjustInventory"] == {
                    "inventoryLevel": {"quantity": 10},
                    "errors": [],
                }
                seen = []
                after = None
                while True:
                    page = (await admin(HISTORY, {"after": after}))["inventoryMovements"]
                    seen += page["nodes"]
                    if not page["pageInfo"]["hasNextPage"]:
                        break
                    after = page["pageInfo"]["endCursor"]
                assert len(seen) == 4
                assert sorted(node["actor"] for node in seen) == ["migrated", "old", "old", "old"]
                reconciled = (await admin(RECONCILE))["reconcileInventory"]
                assert reconciled["run"]["discrepancyCount"] == 0
                await database.published(engine)
        [row] = await sql(url, "SELECT max(id) AS id FROM inventory_movements")
        assert row["id"] == 4  # the id sequence went on from the old rows
        async with engine.connect() as conn:
            replay = await events_after(conn, 0, 100)
            assert [e.sequence for e in replay][:4] == [1, 2, 3, 4]
            assert replay[3].topic == "INVENTORY_UPDATED"
            assert await lost_after(conn, 0) is None
    finally:
        await engine.dispose()

    # Down again: plain tables with the old keys, every row kept, the new ones included.
    moved = await fingerprint(url)
    config = migrate.alembic_config(url)
    await asyncio.to_thread(command.downgrade, config, "0018")
    down = await fingerprint(url)
    for table in TABLES:
        assert await kind(url, table) == "r"
        assert down[f"{table} rows"] == moved[f"{table} rows"]
        assert down[f"{table} indexes"] == before[f"{table} indexes"]
        [granted] = await sql(url, "SELECT has_table_privilege($1, $2, 'SELECT')", reader, table)
        assert granted[0] is True
    [pk] = await sql(
        url, "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conname = 'pk_outbox'"
    )
    assert pk["d"] == "PRIMARY KEY (id)"
    # And up once more, as a database restored from a backup of that state would be.
    await migrate.upgrade_async(url)
    assert (await fingerprint(url))["outbox rows"] == moved["outbox rows"]
