"""Checking every staged row in SQL, all at once: names resolved against the catalog, numbers
parsed, duplicates found. Every problem is recorded with its line and column; the rows without
any are the ones an import may apply.

Tables (temporary, on the import's connection): import_checked (each row with its product and
warehouse ids and its numbers) and import_problems (line, column, code, message, value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.validation import MAX_QUANTITY
from onhand.inventory.imports.columns import CsvColumn
from onhand.inventory.imports.options import MAX_STORED_PROBLEMS, ImportMode, ImportOptions
from onhand.inventory.imports.parsing import ParsedFile
from onhand.inventory.imports.problems import RowProblem
from onhand.inventory.imports.staging import named_rows

CHECKED = "import_checked"
PROBLEMS = "import_problems"
INT_MAX = 2_147_483_647

# A whole number, written as Excel may write one ("12", "+3", "-4", "12.0").
_WHOLE = r"^[+-]?[0-9]{1,12}(\.0*)?$"
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# name in import_checked -> the CSV column
NUMBERS = {
    "quantity": CsvColumn.QUANTITY,
    "safety_stock": CsvColumn.SAFETY_STOCK,
    "reorder_point": CsvColumn.REORDER_POINT,
    "reorder_quantity": CsvColumn.REORDER_QUANTITY,
}


@dataclass(frozen=True, slots=True)
class Checked:
    rows: int  # rows staged
    failed: int  # rows with at least one problem (unreadable rows included)


def _number(name: str) -> str:
    # Plain digits (nearly every cell) are read without going through numeric, and told by
    # ltrim, which costs a third of a regular expression's match.
    return (
        f"CASE WHEN length(r.{name}) <= 9 AND ltrim(r.{name}, '0123456789') = ''"
        f" THEN CAST(r.{name} AS bigint)"
        f" WHEN r.{name} ~ '{_WHOLE}' THEN CAST(trunc(CAST(r.{name} AS numeric)) AS bigint)"
        f" END AS {name}_n"
    )


def _checked_sql(parsed: ParsedFile, mode: ImportMode) -> str:
    level = (
        "LEFT JOIN inventory_levels lv ON lv.product_id = coalesce(byref.id, bysku.id)"
        " AND lv.warehouse_id = w.id"
        if mode == ImportMode.ADJUST
        else ""
    )
    on_hand = "lv.on_hand" if mode == ImportMode.ADJUST else "CAST(NULL AS int)"
    return f"""
    CREATE TEMP TABLE {CHECKED} AS
    WITH r AS MATERIALIZED ({named_rows(parsed)}),
    n AS (
        SELECT r.*, {", ".join(_number(name) for name in NUMBERS)},
            CASE WHEN length(r.product_ref) <= 64 AND r.product_ref ~ '{_BASE64}'
                THEN CAST(substring(encode(decode(r.product_ref, 'base64'), 'escape')
                    FROM '^Product:([1-9][0-9]{{0,17}})$') AS bigint)
            END AS ref_id
        FROM r
    )
    SELECT n.*, byref.id AS ref_product_id, byref.sku AS ref_sku,
        bysku.id AS sku_product_id, w.id AS warehouse_id,
        coalesce(byref.id, bysku.id) AS product_id, {on_hand} AS level_on_hand,
        coalesce(byref.is_kit, bysku.is_kit, false) AS product_is_kit
    FROM n
    LEFT JOIN products byref ON byref.id = n.ref_id
    LEFT JOIN products bysku ON bysku.sku = n.sku
    LEFT JOIN warehouses w ON w.code = n.warehouse_code
    {level}
    """


@dataclass(frozen=True, slots=True)
class _Check:
    """One rule a row may break: SQL over the row `c` (of import_checked)."""

    column: str
    code: str
    condition: str
    message: str  # an SQL expression
    value: str = "CAST(NULL AS text)"


def _number_checks(name: str, column: CsvColumn, mode: ImportMode) -> list[_Check]:
    """Whole, not negative (but for ADJUST deltas), in range; Quantity is required."""
    raw, value = f"c.{name}", f"c.{name}_n"
    checks = []
    if column == CsvColumn.QUANTITY:
        checks.append(_Check(column, "REQUIRED", f"{raw} IS NULL", f"'{column} is required'"))
    checks.append(
        _Check(
            column,
            "INVALID",
            f"{raw} IS NOT NULL AND {value} IS NULL",
            f"format('{column} %s is not a whole number', {raw})",
            raw,
        )
    )
    if not (mode == ImportMode.ADJUST and column == CsvColumn.QUANTITY):
        checks.append(
            _Check(
                column,
                "INVALID",
                f"{value} < 0",
                f"format('{column} must not be negative (got %s)', {raw})",
                raw,
            )
        )
    checks.append(
        _Check(
            column,
            "QUANTITY_OUT_OF_RANGE",
            f"abs({value}) > {MAX_QUANTITY}",
            f"format('{column} %s is beyond {MAX_QUANTITY:,}', {raw})",
            raw,
        )
    )
    return checks


def _checks(mode: ImportMode, create: bool) -> list[_Check]:
    new = "c.product_ref IS NULL AND c.sku IS NOT NULL AND c.sku_product_id IS NULL"
    checks = [
        _Check(
            "SKU",
            "REQUIRED",
            "c.sku IS NULL AND c.product_ref IS NULL",
            "'name the product by its SKU (or ProductID)'",
        ),
        _Check(
            "ProductID",
            "INVALID_ID",
            "c.product_ref IS NOT NULL AND c.ref_id IS NULL",
            "format('ProductID %s is not a product id', c.product_ref)",
            "c.product_ref",
        ),
        _Check(
            "ProductID",
            "NOT_FOUND",
            "c.ref_id IS NOT NULL AND c.ref_product_id IS NULL",
            "format('no product has the id %s', c.product_ref)",
            "c.product_ref",
        ),
        _Check(
            "ProductID",
            "INVALID",
            "c.ref_sku <> c.sku",
            "format('ProductID %s is the product %s, not %s', c.product_ref, c.ref_sku, c.sku)",
            "c.product_ref",
        ),
    ]
    if create:
        checks += [
            _Check(
                "SKU",
                "INVALID",
                f"{new} AND (length(c.sku) > 128 OR c.sku ~ '[[:cntrl:]]')",
                "format('SKU %s cannot be created: a SKU is 1-128 characters without line"
                " breaks or tabs', left(c.sku, 40))",
                "c.sku",
            ),
            _Check(
                "ProductName",
                "INVALID",
                f"{new} AND length(c.product_name) > 300",
                "'ProductName is longer than 300 characters'",
                "left(c.product_name, 300)",
            ),
        ]
    else:
        checks.append(
            _Check(
                "SKU",
                "NOT_FOUND",
                new,
                "format('no product has the SKU %s: create it first, or import with"
                " createMissingProducts', c.sku)",
                "c.sku",
            )
        )
    checks.append(
        _Check(
            "SKU",
            "KIT_HAS_NO_STOCK",
            "c.product_is_kit",
            "format('%s is a kit: it holds no stock of its own; import its components',"
            " coalesce(c.sku, c.ref_sku))",
            "coalesce(c.sku, c.product_ref)",
        )
    )
    checks += [
        _Check(
            "WarehouseCode",
            "REQUIRED",
            "c.warehouse_code IS NULL",
            "'WarehouseCode is required'",
        ),
        _Check(
            "WarehouseCode",
            "NOT_FOUND",
            "c.warehouse_code IS NOT NULL AND c.warehouse_id IS NULL",
            "format('no warehouse has the code %s', c.warehouse_code)",
            "c.warehouse_code",
        ),
    ]
    for name, column in NUMBERS.items():
        checks += _number_checks(name, column, mode)
    checks.append(
        _Check(
            "SKU",
            "INVALID",
            "c.copies > 1 AND c.line > c.first_line AND c.warehouse_code IS NOT NULL"
            " AND (c.product_id IS NOT NULL OR c.sku IS NOT NULL)",
            "format('%s at %s is also on line %s: each product may appear once per warehouse',"
            " coalesce(c.sku, c.ref_sku, c.product_ref), c.warehouse_code, c.first_line)",
            "coalesce(c.sku, c.product_ref)",
        )
    )
    if mode == ImportMode.ADJUST:
        checks.append(
            _Check(
                "Quantity",
                "QUANTITY_OUT_OF_RANGE",
                f"abs(coalesce(c.level_on_hand, 0) + c.quantity_n) > {INT_MAX}",
                f"format('Quantity %s would take the quantity on hand beyond {INT_MAX:,}',"
                " c.quantity)",
                "c.quantity",
            )
        )
    return checks


def _problems_sql(mode: ImportMode, create: bool) -> str:
    checks = _checks(mode, create)
    # The same product (by id, else by SKU) at the same warehouse (by id, else by code).
    key = (
        "PARTITION BY c.product_id, CASE WHEN c.product_id IS NULL THEN c.sku END,"
        " c.warehouse_id, CASE WHEN c.warehouse_id IS NULL THEN c.warehouse_code END"
    )
    values = ",\n        ".join(
        f"({position}, '{check.column}', '{check.code}',"
        f" CASE WHEN {check.condition} THEN {check.message} END, {check.value})"
        for position, check in enumerate(checks, start=1)
    )
    # Only rows breaking some rule are spread over every rule: the others (nearly all) are
    # passed over by one test each.
    any_broken = " OR ".join(f"coalesce({check.condition}, false)" for check in checks)
    return f"""
    INSERT INTO {PROBLEMS} (line, pos, column_name, code, message, value)
    SELECT c.line, p.pos, p.column_name, p.code, p.message, p.value
    FROM (
        SELECT c.*, count(*) OVER w AS copies, min(c.line) OVER w AS first_line
        FROM {CHECKED} c
        WINDOW w AS ({key})
    ) c
    CROSS JOIN LATERAL (VALUES
        {values}
    ) AS p(pos, column_name, code, message, value)
    WHERE ({any_broken}) AND p.message IS NOT NULL
    """


_PYTHON_PROBLEMS = f"""
    INSERT INTO {PROBLEMS} (line, pos, column_name, code, message, value)
    SELECT * FROM unnest(CAST(:line AS int[]), CAST(:pos AS int[]), CAST(:column_name AS text[]),
        CAST(:code AS text[]), CAST(:message AS text[]), CAST(:value AS text[]))
"""


async def check(
    conn: AsyncConnection,
    job_id: int,
    parsed: ParsedFile,
    options: ImportOptions,
) -> Checked:
    """Check the staged rows; store their problems (and the unreadable rows') on the job."""
    await conn.execute(text(f"DROP TABLE IF EXISTS {CHECKED}, {PROBLEMS}"))
    await conn.execute(text(_checked_sql(parsed, options.mode)))
    await conn.execute(
        text(
            f"CREATE TEMP TABLE {PROBLEMS} (line int, pos int, column_name text, code text,"
            " message text, value text)"
        )
    )
    await _add(conn, parsed.problems)
    await conn.execute(text(_problems_sql(options.mode, options.create_missing_products)))
    await conn.execute(
        text(
            "INSERT INTO import_errors (job_id, line, column_name, code, message, value)"
            f" SELECT :job_id, line, column_name, code, message, value FROM {PROBLEMS}"
            " ORDER BY line, pos LIMIT :cap"
        ),
        {"job_id": job_id, "cap": MAX_STORED_PROBLEMS},
    )
    failed = (await conn.execute(text(f"SELECT count(DISTINCT line) FROM {PROBLEMS}"))).scalar_one()
    return Checked(rows=parsed.records, failed=int(failed))


async def _add(conn: AsyncConnection, problems: Sequence[RowProblem]) -> None:
    if not problems:
        return
    await conn.execute(
        text(_PYTHON_PROBLEMS),
        {
            "line": [p.line for p in problems],
            "pos": [0] * len(problems),
            "column_name": [p.column for p in problems],
            "code": [str(p.code) for p in problems],
            "message": [p.message for p in problems],
            "value": [p.value for p in problems],
        },
    )
