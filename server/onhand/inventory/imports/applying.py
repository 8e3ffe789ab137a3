"""Applying the checked rows, in the import's one transaction: products created, missing
levels created already holding what their rows make of them, one movement per row staged and
handed to the ledger in slices (so that progress can be reported), all or nothing unless
partial imports are allowed.

The new levels' movements go first: no other transaction can see those levels, so the ledger
only judges and records them. The others go in level id order, as the ledger locks them, so
that an import and concurrent changes of several levels cannot deadlock however many slices
the import takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import ErrorCode
from onhand.inventory.imports.checks import CHECKED, PROBLEMS
from onhand.inventory.imports.options import SLICE_ROWS, ImportMode, ImportOptions
from onhand.inventory.imports.problems import RowProblem
from onhand.inventory.ledger import (
    STAGED,
    ChangeContext,
    StagedFailure,
    apply_staged,
    create_staged_movements,
)

PLAN = "import_plan"
NEW_LEVELS = "import_new_levels"
# A partial import re-runs a slice without its refused rows; the levels stay locked between
# the two runs, so the second passes. More rounds would mean something else is wrong.
MAX_ROUNDS = 3

Progress = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Applied:
    rows: int  # rows applied (judged, in a dry run), the refused ones left out
    created: int  # levels created
    updated: int  # existing levels changed
    unchanged: int  # rows that changed nothing
    products_created: int
    refused: list[RowProblem]  # rows the ledger refused (applied around in a partial import)


class ImportRefusedError(Exception):
    """Rows the ledger refused, so the import (all or nothing) applies none."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} rows were refused")


_VALID = f"NOT EXISTS (SELECT 1 FROM {PROBLEMS} p WHERE p.line = c.line)"
# The rows to apply, with the ids of products created by this import.
_TARGETS = f"""
    SELECT c.*, coalesce(c.product_id, np.id) AS pid
    FROM {CHECKED} c
    LEFT JOIN products np ON c.product_id IS NULL AND np.sku = c.sku
    WHERE {_VALID}
"""

_CREATE_PRODUCTS = f"""
    WITH created AS (
        INSERT INTO products (sku, name)
        SELECT DISTINCT ON (c.sku) c.sku, coalesce(c.product_name, c.sku)
        FROM {CHECKED} c
        WHERE c.product_id IS NULL AND c.sku IS NOT NULL AND {_VALID}
        ORDER BY c.sku, c.line
        ON CONFLICT (sku) DO NOTHING
        RETURNING id
    )
    SELECT count(*) FROM created
"""

# New levels are created holding what their row makes of them, from zero (the quantity is
# the new on hand in either mode), so that the ledger only records their movements
# (apply_staged's `recorded`); version 2 when that changes anything, as a level created empty
# and then moved would be.
_NEW_SETTINGS = ("safety_stock", "reorder_point", "reorder_quantity")


def _moves_a_new_level(row: str) -> str:
    """Whether a row changes the new level it creates: any value it gives is not zero."""
    values = ("quantity", *_NEW_SETTINGS)
    return " OR ".join(f"coalesce({row}.{name}_n, 0) <> 0" for name in values)


_CREATE_LEVELS = f"""
    WITH targets AS ({_TARGETS}),
    created AS (
        INSERT INTO inventory_levels (product_id, warehouse_id, on_hand,
            {", ".join(_NEW_SETTINGS)}, version)
        SELECT t.pid, t.warehouse_id, t.quantity_n,
            {", ".join(f"coalesce(t.{name}_n, 0)" for name in _NEW_SETTINGS)},
            CASE WHEN {_moves_a_new_level("t")} THEN 2 ELSE 1 END
        FROM targets t
        WHERE NOT EXISTS (
            SELECT 1 FROM inventory_levels l
            WHERE l.product_id = t.pid AND l.warehouse_id = t.warehouse_id
        )
        ORDER BY t.pid, t.warehouse_id
        ON CONFLICT (product_id, warehouse_id) DO NOTHING
        RETURNING id
    )
    INSERT INTO {NEW_LEVELS} (level_id) SELECT id FROM created
"""


def _plan_sql(mode: ImportMode) -> str:
    """Every row to apply with its level, and `ord`, its place among the rows handed to the
    ledger: the new levels' first, then the others in level id order (the order the ledger
    locks them in). A row that asks for what its level already has is left out (its ord is
    null): it would change nothing, and so it need not wait for, nor hold, the level's
    lock."""
    quantity = "l.on_hand" if mode == ImportMode.SET else "0"
    same = (
        f"n.level_id IS NULL AND t.quantity_n = {quantity}"
        " AND coalesce(t.safety_stock_n, l.safety_stock) = l.safety_stock"
        " AND coalesce(t.reorder_point_n, l.reorder_point) = l.reorder_point"
        " AND coalesce(t.reorder_quantity_n, l.reorder_quantity) = l.reorder_quantity"
    )
    return f"""
    CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS
    WITH targets AS ({_TARGETS}),
    planned AS (
        SELECT t.line, l.id AS level_id, (n.level_id IS NOT NULL) AS is_new, ({same}) AS same,
            t.pid AS product_id, t.warehouse_id, t.quantity, t.quantity_n, t.safety_stock_n,
            t.reorder_point_n, t.reorder_quantity_n
        FROM targets t
        JOIN inventory_levels l ON l.product_id = t.pid AND l.warehouse_id = t.warehouse_id
        LEFT JOIN {NEW_LEVELS} n ON n.level_id = l.id
    )
    SELECT CASE WHEN NOT same
        THEN row_number() OVER (PARTITION BY same ORDER BY is_new DESC, level_id) END AS ord, *
    FROM planned
    """


def _stage_sql(mode: ImportMode) -> str:
    if mode == ImportMode.SET:
        kind = "CASE WHEN p.is_new THEN 'INITIAL' ELSE 'SET' END"
        moved, count, rule = "0", "p.quantity_n", "PHYSICAL"
    else:
        kind, moved, count, rule = "'ADJUSTMENT'", "p.quantity_n", "NULL", "AVAILABLE"
    return f"""
    INSERT INTO {STAGED} (ord, product_id, warehouse_id, type, d_on_hand, set_on_hand,
        set_safety_stock, set_reorder_point, set_reorder_quantity, rule, reason, reference_id,
        level_id)
    SELECT p.ord, p.product_id, p.warehouse_id, {kind}, {moved}, {count}, p.safety_stock_n,
        p.reorder_point_n, p.reorder_quantity_n, '{rule}', :reason, :reference, p.level_id
    FROM {PLAN} p
    WHERE p.ord IS NOT NULL
    """


_NEW_COUNTS = f"""
    SELECT count(*) AS created, count(*) FILTER (WHERE {_moves_a_new_level("p")}) AS changed
    FROM {PLAN} p WHERE is_new AND ord <> ALL(CAST(:refused AS bigint[]))
"""


async def apply_rows(
    conn: AsyncConnection,
    options: ImportOptions,
    context: ChangeContext,
    *,
    reason: str,
    reference: str,
    progress: Progress,
    slice_rows: int = SLICE_ROWS,
) -> Applied:
    """Apply (or, in a dry run, only judge) the rows without problems. Raises
    ImportRefusedError when the ledger refuses any row and partial imports are not allowed;
    the caller then rolls the transaction back."""
    await conn.execute(text("SET LOCAL work_mem = '64MB'"))
    products_created = 0
    if options.create_missing_products:
        products_created = int((await conn.execute(text(_CREATE_PRODUCTS))).scalar_one())
    await conn.execute(
        text(f"CREATE TEMP TABLE {NEW_LEVELS} (level_id bigint PRIMARY KEY) ON COMMIT DROP")
    )
    await conn.execute(text(_CREATE_LEVELS))
    await conn.execute(text(_plan_sql(options.mode)))
    await create_staged_movements(conn)
    staged = await conn.execute(
        text(_stage_sql(options.mode)), {"reason": reason, "reference": reference}
    )
    total = staged.rowcount or 0
    counts = (
        await conn.execute(text(f"SELECT count(*), count(*) FILTER (WHERE is_new) FROM {PLAN}"))
    ).one()
    planned, new_levels = int(counts[0]), int(counts[1])
    skipped = planned - total
    if skipped:
        await progress(skipped)

    failures: list[StagedFailure] = []
    changed = 0
    judge_only = options.dry_run
    for first, last, recorded in _slices(total, new_levels, slice_rows):
        outcome = await apply_staged(
            conn, context, first, last, judge_only=judge_only, recorded=recorded
        )
        rounds = 1
        while outcome.failures and options.allow_partial and not judge_only:
            failures += outcome.failures
            if rounds == MAX_ROUNDS:
                raise RuntimeError("a partial import slice kept failing")
            await conn.execute(
                text(f"DELETE FROM {STAGED} WHERE ord = ANY(CAST(:ords AS bigint[]))"),
                {"ords": [f.ord for f in outcome.failures]},
            )
            outcome = await apply_staged(conn, context, first, last, recorded=recorded)
            rounds += 1
        if outcome.failures:
            failures += outcome.failures
            # All or nothing: the import is refused, but the other rows are still judged
            # (writing nothing) so that every refused row is reported at once.
            judge_only = judge_only or not options.allow_partial
        changed += outcome.changed
        await progress(skipped + last)

    refused = await _refused_rows(conn, failures, options.mode)
    if refused and not options.allow_partial:
        raise ImportRefusedError(refused)
    refused_ords = [f.ord for f in failures]
    if refused_ords and not options.dry_run:
        await _drop_unused_levels(conn, refused_ords)
    new = (await conn.execute(text(_NEW_COUNTS), {"refused": refused_ords})).one()
    rows = planned - len(refused_ords)
    updated = changed - new.changed
    return Applied(
        rows=rows,
        created=new.created,
        updated=updated,
        unchanged=rows - new.created - updated,
        products_created=products_created,
        refused=refused,
    )


def _slices(total: int, new_levels: int, slice_rows: int) -> Iterator[tuple[int, int, bool]]:
    """(first ord, last ord, whether the levels are new) of each slice handed to the ledger:
    the new levels' rows (ords 1 to new_levels) are never in a slice with the others'."""
    for start, end, recorded in ((1, new_levels, True), (new_levels + 1, total, False)):
        for first in range(start, end + 1, slice_rows):
            yield first, min(end, first + slice_rows - 1), recorded


async def _refused_rows(
    conn: AsyncConnection, failures: list[StagedFailure], mode: ImportMode
) -> list[RowProblem]:
    if not failures:
        return []
    rows = await conn.execute(
        text(f"SELECT ord, line, quantity FROM {PLAN} WHERE ord = ANY(CAST(:ords AS bigint[]))"),
        {"ords": [f.ord for f in failures]},
    )
    lines = {row.ord: (row.line, row.quantity) for row in rows}
    problems = []
    for failure in failures:
        line, quantity = lines[failure.ord]
        problem = failure.problem
        if problem.code == ErrorCode.INSUFFICIENT_STOCK and mode == ImportMode.SET:
            message = (
                f"Quantity {quantity} is less than reservations, orders and damaged or"
                " quarantined stock hold at this level"
            )
        else:
            message = f"Quantity {quantity}: {problem.message}"
        problems.append(RowProblem(line, "Quantity", problem.code, message, quantity))
    return sorted(problems, key=lambda p: p.line or 0)


async def _drop_unused_levels(conn: AsyncConnection, refused: list[int]) -> None:
    """Levels this import created for rows the ledger then refused go (no other transaction
    can have seen, let alone moved, them), so that a partial import leaves no trace of its
    refused rows."""
    await conn.execute(
        text(
            f"""
            DELETE FROM inventory_levels l USING {PLAN} p
            WHERE p.ord = ANY(CAST(:ords AS bigint[])) AND p.is_new AND l.id = p.level_id
            """
        ),
        {"ords": refused},
    )
