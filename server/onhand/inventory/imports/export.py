"""Stock as CSV, in the columns an import reads back: PostgreSQL writes the CSV itself (COPY),
streamed out in chunks, so an export of any size costs little memory and no per-row Python.

An exported file imported again (SET) changes nothing: Reserved and Available are read back
but not imported, and every other column is what the import would set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.errors import DomainError, ErrorCode
from onhand.db.sql import escape_like
from onhand.inventory.imports.columns import EXPORTED, CsvColumn

# Chunks of CSV waiting to be sent: COPY pauses when the client reads slower than this.
QUEUED_CHUNKS = 16


def _spreadsheet_safe(column: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
    apostrophe, as OWASP advises against CSV injection; the import takes it off again
    (staging.py), so an exported file still imports unchanged."""
    return f"CASE WHEN {column} ~ E'^[-=+@\\t\\r]' THEN E'\\'' || {column} ELSE {column} END"


_VALUES = {
    CsvColumn.PRODUCT_ID: "encode(convert_to('Product:' || p.id, 'UTF8'), 'base64')",
    CsvColumn.PRODUCT_NAME: _spreadsheet_safe("p.name"),
    CsvColumn.SKU: _spreadsheet_safe("p.sku"),
    CsvColumn.WAREHOUSE_CODE: "w.code",
    CsvColumn.QUANTITY: "l.on_hand",
    CsvColumn.RESERVED: "l.reserved",
    CsvColumn.AVAILABLE: "l.available",
    CsvColumn.SAFETY_STOCK: "l.safety_stock",
    CsvColumn.REORDER_POINT: "l.reorder_point",
    CsvColumn.REORDER_QUANTITY: "l.reorder_quantity",
}
_FROM = """
    FROM inventory_levels l
    JOIN products p ON p.id = l.product_id
    JOIN warehouses w ON w.id = l.warehouse_id
"""


@dataclass(frozen=True)
class ExportFilter:
    warehouse_codes: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    # A case-insensitive part of the SKU or the product's name.
    search: str | None = None
    # Levels with nothing on hand, held or incoming too (all of them, by default).
    include_zero: bool = True
    below_safety_stock: bool = False


_UNKNOWN = text(
    """
    SELECT 'warehouseCode' AS field, given.name FROM unnest(CAST(:codes AS text[])) AS given(name)
    WHERE NOT EXISTS (SELECT 1 FROM warehouses w WHERE w.code = given.name)
    UNION ALL
    SELECT 'sku', given.name FROM unnest(CAST(:skus AS text[])) AS given(name)
    WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = given.name)
    """
)


async def check_filter(engine: AsyncEngine, filters: ExportFilter) -> None:
    """A warehouse code or SKU that names nothing is a mistake, not an empty export."""
    if not filters.warehouse_codes and not filters.skus:
        return
    async with engine.connect() as conn:
        unknown = (
            await conn.execute(
                _UNKNOWN, {"codes": list(filters.warehouse_codes), "skus": list(filters.skus)}
            )
        ).all()
    if unknown:
        field, name = unknown[0]
        what = "warehouse" if field == "warehouseCode" else "product"
        raise DomainError.of(ErrorCode.NOT_FOUND, f"no {what} has {field} {name}", field)


def _where(filters: ExportFilter, named: bool = False) -> tuple[str, list[Any]]:
    """The conditions, with $1-style parameters (asyncpg) or :p1-style ones (SQLAlchemy)."""
    conditions, args = ["true"], []

    def arg(value: Any) -> str:
        args.append(value)
        return f":p{len(args)}" if named else f"${len(args)}"

    if filters.warehouse_codes:
        conditions.append(f"w.code = ANY(CAST({arg(list(filters.warehouse_codes))} AS text[]))")
    if filters.skus:
        conditions.append(f"p.sku = ANY(CAST({arg(list(filters.skus))} AS text[]))")
    if filters.search:
        pattern = arg(f"%{escape_like(filters.search)}%")
        conditions.append(f"(p.sku ILIKE {pattern} OR p.name ILIKE {pattern})")
    if not filters.include_zero:
        conditions.append(
            "(l.on_hand <> 0 OR l.reserved + l.committed + l.incoming + l.damaged"
            " + l.quarantined > 0)"
        )
    if filters.below_safety_stock:
        conditions.append("l.available <= 0")
    return " AND ".join(conditions), args


def _query(filters: ExportFilter) -> tuple[str, list[Any]]:
    where, args = _where(filters)
    columns = ", ".join(f'{_VALUES[c]} AS "{c}"' for c in EXPORTED)
    return f"SELECT {columns} {_FROM} WHERE {where} ORDER BY p.sku, w.code", args


async def count_rows(engine: AsyncEngine, filters: ExportFilter) -> int:
    where, args = _where(filters, named=True)
    params = {f"p{i}": value for i, value in enumerate(args, start=1)}
    async with engine.connect() as conn:
        found = await conn.execute(text(f"SELECT count(*) {_FROM} WHERE {where}"), params)
        return int(found.scalar_one())


async def stream_csv(engine: AsyncEngine, filters: ExportFilter) -> AsyncIterator[bytes]:
    """The CSV (header first), in chunks as PostgreSQL writes them."""
    query, args = _query(filters)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUED_CHUNKS)
    failure: list[BaseException] = []

    async def sink(chunk: bytes | bytearray | memoryview) -> None:
        await queue.put(bytes(chunk))

    async def produce() -> None:
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                try:
                    await driver.copy_from_query(
                        query, *args, output=sink, format="csv", header=True
                    )
                except BaseException:
                    # Stopped half-way through a COPY: the connection is not fit for reuse.
                    await conn.invalidate()
                    raise
        except Exception as error:
            failure.append(error)
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await queue.put(None)

    producer = asyncio.create_task(produce(), name="onhand-export")
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        if failure:
            raise failure[0]
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer


async def export_csv(engine: AsyncEngine, filters: ExportFilter) -> str:
    return b"".join([chunk async for chunk in stream_csv(engine, filters)]).decode()


def file_name(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"inventory-{stamp}.csv"
