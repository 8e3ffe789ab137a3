"""`onhand import`, `onhand export` and `onhand seed`, run as real processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.client import Client, operation
from support.imports import counts, stock

ONHAND = Path(sys.executable).parent / "onhand"


async def onhand(database_url: str, *arguments: str, stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(ONHAND),
        *arguments,
        env={
            **os.environ,
            "ONHAND_DATABASE_URL": database_url,
            "ONHAND_LOG_LEVEL": "WARNING",
            "COLUMNS": "160",
        },
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_onhand_import_applies_a_file_and_reports(
    admin: Client, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await factories.warehouse(admin, "DC-1")
    path = tmp_path / "counts.csv"
    path.write_text("SKU,WarehouseCode,Quantity\nCLI-1,DC-1,4\nCLI-2,DC-1,9\n")

    code, out, err = await onhand(
        database_url, "import", str(path), "--create-missing-products", "--actor", "nightly-erp"
    )

    assert code == 0, out + err
    assert "SUCCEEDED: created 2 levels" in out
    assert "counts.csv" in err  # the job line and the bar go to stderr
    assert (await stock(engine))[("CLI-2", "DC-1")]["on_hand"] == 9
    async with engine.connect() as conn:
        actors = (await conn.execute(text("SELECT DISTINCT actor FROM inventory_movements"))).all()
    assert actors == [("nightly-erp",)]


async def test_onhand_import_lists_the_problems_and_fails(
    admin: Client, engine: AsyncEngine, database_url: str
) -> None:
    await factories.warehouse(admin, "DC-1")
    before = await counts(engine)

    code, out, _ = await onhand(
        database_url,
        "import",
        "-",
        stdin=b"SKU,WarehouseCode,Quantity\nCLI-1,DC-1,4\nCLI-2,DC-7,-9\n",
    )

    assert code == 1
    assert "FAILED" in out
    assert "no warehouse has the code DC-7" in out
    assert "Quantity must not be negative" in out
    assert await counts(engine) == before


async def test_onhand_import_of_a_missing_file_says_so(database_url: str) -> None:
    code, _, err = await onhand(database_url, "import", "/nonexistent/stock.csv")
    assert code == 2
    assert "cannot read" in err


async def test_onhand_export_writes_what_the_api_exports(
    admin: Client, database_url: str, tmp_path: Path
) -> None:
    await factories.warehouse(admin, "DC-1")
    await factories.warehouse(admin, "DC-2")
    await admin(
        operation("ImportInventory"),
        {
            "input": {
                "csv": "SKU,WarehouseCode,Quantity\nX-1,DC-1,3\nX-1,DC-2,0\nX-2,DC-2,8\n",
                "createMissingProducts": True,
            }
        },
    )
    path = tmp_path / "out.csv"

    code, out, err = await onhand(database_url, "export", "-o", str(path), "--warehouse", "DC-2")

    assert code == 0, out + err
    api = await admin(operation("ExportInventory"), {"filter": {"warehouseCodes": ["DC-2"]}})
    assert path.read_text() == api["exportInventory"]["csv"]
    assert "exported 2 rows" in err

    code, out, _ = await onhand(database_url, "export", "--exclude-zero")
    assert code == 0
    assert [line.split(",")[2:4] for line in out.splitlines()[1:]] == [
        ["X-1", "DC-1"],
        ["X-2", "DC-2"],
    ]

    # A code or SKU naming nothing is a mistake, not an empty file.
    code, out, err = await onhand(database_url, "export", "--warehouse", "NOPE")
    assert (code, out) == (2, "")
    assert "no warehouse has warehouseCode NOPE" in err
    code, out, err = await onhand(database_url, "export", "--sku", "X-1", "--sku", "GONE")
    assert (code, out) == (2, "")
    assert "no product has sku GONE" in err


async def test_onhand_seed_loads_the_demo_through_the_import(
    database_url: str, engine: AsyncEngine
) -> None:
    code, out, err = await onhand(database_url, "seed", "--size", "small", "--seed", "7")

    assert code == 0, out + err
    assert "seeded 4 warehouses, 6 channels, 300 products" in out
    async with engine.connect() as conn:
        sources = (
            await conn.execute(text("SELECT DISTINCT source FROM inventory_movements"))
        ).all()
    assert sources == [("IMPORT",)]
