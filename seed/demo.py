"""Demo data: the warehouses, the six channels, and products with their stock, deterministic
from a seed number.

The stock is loaded by importing a generated CSV file through the same import as
`importInventory` and `onhand import`: every quantity is explained by the ledger (movements of
source IMPORT) and announced on the event stream like any other change.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.refs import Ref
from onhand.db.tables import products as products_table
from onhand.inventory.channels.registry import channels_by_codes, create_channel
from onhand.inventory.imports.jobs import JobStatus
from onhand.inventory.imports.options import ImportOptions
from onhand.inventory.imports.runner import run_import
from onhand.inventory.warehouses import create_warehouse, warehouses_by_codes
from onhand.seed.channels import (
    BATCH_SYNC_MINUTES,
    CHANNELS,
    SAFETY_BUFFER_PERCENT,
    WAREHOUSES_OF,
)
from onhand.seed.generator import SIZES, WAREHOUSES, generate_csv

ACTOR = "seed"


class SeedError(RuntimeError):
    pass


async def seed(engine: AsyncEngine, size: str = "small", seed_number: int = 42) -> str:
    if size not in SIZES:
        raise SeedError(f"unknown size {size!r}: one of {', '.join(SIZES)}")
    await _warehouses(engine)
    await _channels(engine)
    data = generate_csv(size, seed_number)
    options = ImportOptions(
        create_missing_products=True,
        reason="demo data",
        file_name=f"demo-{size}-{seed_number}.csv",
    )
    job = await run_import(engine, data, options, ACTOR)
    if job.status != JobStatus.SUCCEEDED:
        raise SeedError(f"the demo import failed: {job.message}")
    return (
        f"seeded {len(WAREHOUSES)} warehouses, {len(CHANNELS)} channels,"
        f" {SIZES[size].products:,} products and {job.rows_total:,} levels (import job"
        f" {job.id}: {job.message})"
    )


async def _warehouses(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        existing = await warehouses_by_codes(conn, [w["code"] for w in WAREHOUSES])
        for values in WAREHOUSES:
            if values["code"] not in existing:
                await create_warehouse(conn, values)


async def _channels(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        existing = await channels_by_codes(conn, [c["code"] for c in CHANNELS])
        for values in CHANNELS:
            if values["code"] in existing:
                continue
            await create_channel(
                conn,
                {
                    **values,
                    "safety_buffer_percent": SAFETY_BUFFER_PERCENT,
                    "sync_interval_minutes": BATCH_SYNC_MINUTES,
                },
                [Ref(key=code, field="warehouseCodes") for code in WAREHOUSES_OF[values["code"]]],
            )


async def seed_if_empty(engine: AsyncEngine, size: str = "small") -> str | None:
    async with engine.connect() as conn:
        if (await conn.execute(select(products_table.c.id).limit(1))).first() is not None:
            return None
    return await seed(engine, size)
