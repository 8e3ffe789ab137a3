"""Demo data: built through the import, the same from the same seed number."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.imports.export import ExportFilter, export_csv
from onhand.seed.demo import seed
from onhand.seed.generator import SIZES, generate_csv
from support.database import empty
from support.imports import counts, ledger_explains_stock


async def test_the_same_seed_number_gives_the_same_stock(
    engine: AsyncEngine, emptying: str
) -> None:
    await seed(engine, "small", 42)
    first = await export_csv(engine, ExportFilter())
    await empty(engine, emptying)
    await seed(engine, "small", 42)
    again = await export_csv(engine, ExportFilter())
    await empty(engine, emptying)
    await seed(engine, "small", 43)
    other = await export_csv(engine, ExportFilter())

    assert again == first
    assert other != first
    assert generate_csv("small", 42) == generate_csv("small", 42)


async def test_the_demo_is_imported_with_its_warehouses_and_six_channels(
    engine: AsyncEngine,
) -> None:
    summary = await seed(engine, "small", 42)

    rows = generate_csv("small", 42).count(b"\n") - 1
    assert f"{SIZES['small'].products:,} products and {rows:,} levels" in summary
    async with engine.connect() as conn:
        channels = (
            await conn.execute(
                text("SELECT code, kind, priority, safety_buffer_percent FROM channels")
            )
        ).all()
        sources = (
            await conn.execute(
                text("SELECT DISTINCT source, reference_id FROM inventory_movements")
            )
        ).all()
        warehouses = (await conn.execute(text("SELECT code FROM warehouses ORDER BY code"))).all()
    assert sorted(channels, key=lambda c: -c.priority) == [
        ("WEBSITE", "REALTIME", 100, 5.0),
        ("POS", "REALTIME", 90, 5.0),
        ("MOBILE_APP", "REALTIME", 80, 5.0),
        ("AMAZON", "BATCH", 70, 5.0),
        ("EBAY", "BATCH", 60, 5.0),
        ("WALMART", "BATCH", 50, 5.0),
    ]
    assert [w.code for w in warehouses] == ["DC-001", "STORE-ATL", "WH-EAST", "WH-WEST"]
    assert sources == [("IMPORT", "import-1")]
    made = await counts(engine)
    assert (made["products"], made["levels"]) == (SIZES["small"].products, rows)
    assert made["events"] == made["movements"]
    await ledger_explains_stock(engine)

    # Seeding again changes nothing: the same file, imported again.
    await seed(engine, "small", 42)
    assert await counts(engine) == made


def test_the_distributor_file_has_192000_rows_of_realistic_stock() -> None:
    content = generate_csv("distributor", 42).decode()
    lines = content.splitlines()
    assert len(lines) == 1 + 192_000
    quantities = sorted(int(line.split(",")[3]) for line in lines[1:])
    assert quantities[0] == 0
    out_of_stock = sum(1 for q in quantities if q == 0) / len(quantities)
    assert 0.03 < out_of_stock < 0.1
    median = quantities[len(quantities) // 2]
    assert 5 < median < 200
    assert quantities[-1] > 50 * median  # a few fast movers hold deep stock
