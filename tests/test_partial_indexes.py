"""Indexes that leave out the rows no reader asks for (migrations 0024-0026): the outbox's
unique index on sequences skips unpublished events, the ledger's reference and channel
indexes skip movements with none, the products' platform id indexes skip products with
none. Each still serves its readers' query shapes, and the unique one still refuses a
sequence given twice."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# The shapes rows are read in (events/store.py, channels/feed.py, inventory/movements.py,
# channels/sales.py, reallocation.py, demand_buffers.py, reservations/lookups.py), by the
# index each must be able to use. Planned as generic plans: no parameter's value may be what
# lets the planner use it.
READS = {
    "events after a cursor": (
        "SELECT * FROM outbox WHERE sequence > $1 ORDER BY sequence LIMIT 100",
        "sequence_created_at_idx",
    ),
    "events within a range": (
        "SELECT * FROM outbox WHERE sequence > $1 AND sequence <= $1 + 10",
        "sequence_created_at_idx",
    ),
    "the oldest event kept": (
        "SELECT min(sequence) FROM outbox WHERE $1 >= 0",
        "sequence_created_at_idx",
    ),
    "movements by reference": (
        "SELECT id FROM inventory_movements WHERE reference_id = CAST($1 AS text)",
        "reference_id_idx",
    ),
    "movements by channel": (
        "SELECT id FROM inventory_movements WHERE channel_id = $1",
        "channel_id_product_id_occurred",
    ),
    "a channel's sales": (
        "SELECT sum(-d_on_hand) FROM inventory_movements WHERE type = 'SALE'"
        " AND channel_id = ANY(ARRAY[$1])"
        " AND occurred_at >= now() - interval '30 days'",
        "channel_id_product_id_occurred",
    ),
    "products by variant id": (
        "SELECT id, external_variant_id FROM products"
        " WHERE external_variant_id = ANY(ARRAY[CAST($1 AS text)])",
        "ix_products_external_variant_id",
    ),
}


async def add_events(conn: AsyncConnection, count: int) -> None:
    await conn.execute(
        text(
            "INSERT INTO outbox (topic, payload) SELECT 'INVENTORY_UPDATED',"
            " json_build_object('n', s) FROM generate_series(1, :n) s"
        ),
        {"n": count},
    )


async def plan_of(conn: AsyncConnection, query: str) -> str:
    await conn.execute(text(f"PREPARE read_rows(bigint) AS {query}"))
    try:
        rows = await conn.execute(text("EXPLAIN EXECUTE read_rows(3)"))
        return "\n".join(row[0] for row in rows)
    finally:
        await conn.execute(text("DEALLOCATE read_rows"))


async def test_partial_indexes_serve_their_readers(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await add_events(conn, 20)
        await conn.execute(text("ANALYZE outbox"))
        await conn.execute(text("ANALYZE inventory_movements"))
        await conn.execute(text("ANALYZE products"))
        # Only plans that can use an index: whether the readers' can use these.
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        await conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        for name, (query, index) in READS.items():
            plan = await plan_of(conn, query)
            assert index in plan, f"{name}:\n{plan}"
        found = await conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ("
                "'uq_outbox_sequence', 'ix_inventory_movements_reference',"
                " 'ix_inventory_movements_channel_sales', 'ix_products_external_variant_id',"
                " 'ix_products_external_ids')"
            )
        )
        predicates = {name: definition.partition(" WHERE ")[2] for name, definition in found}
    assert predicates == {
        "uq_outbox_sequence": "(sequence IS NOT NULL)",
        "ix_inventory_movements_reference": "(reference_id IS NOT NULL)",
        "ix_inventory_movements_channel_sales": "(channel_id IS NOT NULL)",
        "ix_products_external_variant_id": "(external_variant_id IS NOT NULL)",
        "ix_products_external_ids": "(external_product_id IS NOT NULL)",
    }


async def test_a_sequence_is_still_given_once(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await add_events(conn, 20)
        # Numbered as the relay numbers them: one transaction, so one created_at for all.
        await conn.execute(
            text(
                "UPDATE outbox o SET sequence = n.position FROM (SELECT id,"
                " row_number() OVER (ORDER BY id) AS position FROM outbox) n WHERE o.id = n.id"
            )
        )
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE outbox SET sequence = 1 WHERE sequence = 2"))
