"""Putting a file's rows into a temporary table with COPY, as text: the values are checked
in SQL, for all rows at once, rather than one by one in Python. The rows are read from the
file a batch at a time, the next batch read (in a thread: it is CPU work) while the last one
is sent, so only a batch or two is ever in memory, whatever the file's size.

The tables live as long as the import's connection (a connection of its own, closed after).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.imports.columns import STAGED_NAMES, CsvColumn
from onhand.inventory.imports.parsing import CsvReader, ParsedFile

ROWS = "import_rows"
# Rows read from the file at a time.
BATCH_ROWS = 20_000
FORMULA_ESCAPED = (CsvColumn.PRODUCT_NAME, CsvColumn.SKU)


async def stage(conn: AsyncConnection, reader: CsvReader) -> None:
    """import_rows: one text column per column of the file (c0, c1, ...), then `line`. The
    reader's FileRefusedError, should a later line be unreadable, ends the COPY."""
    positions = [f"c{i}" for i in range(len(reader.parsed.columns))]
    await conn.execute(text(f"DROP TABLE IF EXISTS {ROWS}"))
    await conn.execute(
        text(f"CREATE TEMP TABLE {ROWS} ({', '.join(f'{p} text' for p in positions)}, line int)")
    )
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    columns = [*positions, "line"]
    upcoming = asyncio.ensure_future(asyncio.to_thread(reader.batch, BATCH_ROWS))
    try:
        while True:
            batch = await upcoming
            done = reader.done
            if not done:
                upcoming = asyncio.ensure_future(asyncio.to_thread(reader.batch, BATCH_ROWS))
            if batch:
                # One COPY per batch: a list is sent at the driver's own speed, where an
                # async iterator would cost a step of the event loop per row.
                await driver.copy_records_to_table(ROWS, records=batch, columns=columns)
            if done:
                return
    finally:
        if not upcoming.done():
            # Stopped early: the batch being read finishes before the file may be closed.
            await asyncio.wait([upcoming])
        if not upcoming.cancelled():
            upcoming.exception()  # taken: what stopped the COPY is what is raised


def named_rows(parsed: ParsedFile) -> str:
    """A SELECT of import_rows by the columns' names, trimmed, blanks as NULL; NULL for the
    columns the file does not have."""
    where = {column: f"c{i}" for i, column in enumerate(parsed.columns) if column is not None}
    cells = []
    for column in CsvColumn:
        name = STAGED_NAMES[column]
        if column in where:
            value = f"nullif(btrim({where[column]}, E' \\t\\r\\n'), '')"
            if column in FORMULA_ESCAPED:
                # The apostrophe an export puts before what a spreadsheet would run; the
                # expression only where a value starts with one, as it is the dearer test.
                escaped = f"regexp_replace({value}, E'^\\'(?=[-=+@\\t\\r])', '')"
                value = f"CASE WHEN {value} LIKE '''%' THEN {escaped} ELSE {value} END"
            cells.append(f"{value} AS {name}")
        else:
            cells.append(f"CAST(NULL AS text) AS {name}")
    return f"SELECT line, {', '.join(cells)} FROM {ROWS}"
