"""Putting a parsed file into a temporary table with one COPY, as text: the values are checked
in SQL, for all rows at once, rather than one by one in Python.

The tables live as long as the import's connection (a connection of its own, closed after).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.imports.columns import STAGED_NAMES, CsvColumn
from onhand.inventory.imports.parsing import ParsedFile

ROWS = "import_rows"
FORMULA_ESCAPED = (CsvColumn.PRODUCT_NAME, CsvColumn.SKU)


async def stage(conn: AsyncConnection, parsed: ParsedFile) -> None:
    """import_rows: one text column per column of the file (c0, c1, ...), then `line`."""
    positions = [f"c{i}" for i in range(len(parsed.columns))]
    await conn.execute(text(f"DROP TABLE IF EXISTS {ROWS}"))
    await conn.execute(
        text(f"CREATE TEMP TABLE {ROWS} ({', '.join(f'{p} text' for p in positions)}, line int)")
    )
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(ROWS, records=parsed.records, columns=[*positions, "line"])


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
                # The apostrophe an export puts before what a spreadsheet would run.
                value = f"regexp_replace({value}, E'^\\'(?=[-=+@\\t\\r])', '')"
            cells.append(f"{value} AS {name}")
        else:
            cells.append(f"CAST(NULL AS text) AS {name}")
    return f"SELECT line, {', '.join(cells)} FROM {ROWS}"
