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
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import ErrorCode
from onhand.db.transactions import UNIQUE_VIOLATION, sqlstate
from onhand.inventory.imports.checks import CHECKED, PROBLEMS
from onhand.inventory.imports.options import SLICE_ROWS, ImportMode, ImportOptions
from onhand.inventory.imports.problems import RowProblem
from onhand.inventory.ledger import (
    STAGED,
    ChangeContext,
    StagedFailure,
    apply_staged,
    stage_movements,
    staged_movement_columns,
)

T = TypeVar("T")

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

# Products that did not exist when the file was checked, unless they do now (looked up once
# a SKU, not once a row).
_CREATE_PRODUCTS = f"""
    WITH created AS (
        INSERT INTO products (sku, name)
        SELECT n.sku, n.name
        FROM (
            SELECT DISTINCT ON (c.sku) c.sku, coalesce(c.product_name, c.sku) AS name
            FROM {CHECKED} c
            WHERE c.product_id IS NULL AND c.sku IS NOT NULL AND {_VALID}
            ORDER BY c.sku, c.line
        ) n
        WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = n.sku)
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


def _stage_sql(mode: ImportMode) -> str:
    """One statement creates the missing levels and stages every row to apply, with its level
    (an id taken up front for a new one, so that nothing is read back) and `ord`, its place
    among the rows handed to the ledger: the new levels' first, then the others in level id
    order (the order the ledger locks them in). A row that asks for what its level already
    has is not staged at all: it would change nothing, and so it need not wait for, nor hold,
    the level's lock (an unchanged file stages nothing). Beside each movement stay its line,
    Quantity, whether its level is new and whether it moves it."""
    quantity = "l.on_hand" if mode == ImportMode.SET else "0"
    same = (
        f"l.id IS NOT NULL AND t.quantity_n = {quantity}"
        " AND coalesce(t.safety_stock_n, l.safety_stock) = l.safety_stock"
        " AND coalesce(t.reorder_point_n, l.reorder_point) = l.reorder_point"
        " AND coalesce(t.reorder_quantity_n, l.reorder_quantity) = l.reorder_quantity"
    )
    if mode == ImportMode.SET:
        moved = {
            "type": "CASE WHEN p.is_new THEN 'INITIAL' ELSE 'SET' END",
            "set_on_hand": "p.quantity_n",
            "rule": "'PHYSICAL'",
        }
    else:
        moved = {"type": "'ADJUSTMENT'", "d_on_hand": "p.quantity_n", "rule": "'AVAILABLE'"}
    movement = staged_movement_columns(
        {
            "product_id": "p.product_id",
            "warehouse_id": "p.warehouse_id",
            **moved,
            **{f"set_{name}": f"p.{name}_n" for name in _NEW_SETTINGS},
            "reason": ":reason",
            "reference_id": ":reference",
        }
    )
    return f"""
    WITH targets AS ({_TARGETS}),
    planned AS MATERIALIZED (
        SELECT t.line, t.quantity, t.pid AS product_id, t.warehouse_id, t.quantity_n,
            {", ".join(f"t.{name}_n" for name in _NEW_SETTINGS)},
            l.id IS NULL AS is_new, coalesce(l.id, nextval('inventory_levels_id_seq')) AS level_id,
            coalesce({same}, false) AS same, {_moves_a_new_level("t")} AS moves
        FROM targets t
        LEFT JOIN inventory_levels l ON l.product_id = t.pid AND l.warehouse_id = t.warehouse_id
        ORDER BY t.pid, t.warehouse_id
    ),
    created AS (
        INSERT INTO inventory_levels (id, product_id, warehouse_id, on_hand,
            {", ".join(_NEW_SETTINGS)}, version)
        SELECT p.level_id, p.product_id, p.warehouse_id, p.quantity_n,
            {", ".join(f"coalesce(p.{name}_n, 0)" for name in _NEW_SETTINGS)},
            CASE WHEN p.moves THEN 2 ELSE 1 END
        FROM planned p
        WHERE p.is_new
    )
    SELECT row_number() OVER (ORDER BY p.is_new DESC, p.level_id) AS ord, {movement},
        p.level_id, p.line, p.quantity, p.is_new, p.moves
    FROM planned p
    WHERE NOT p.same
    """


# The rows to apply (those staged, and those that change nothing), and the new levels'.
_COUNTS = f"""
    SELECT (SELECT count(*) FROM {CHECKED} c WHERE {_VALID}) AS planned,
        (SELECT count(*) FROM {STAGED} WHERE is_new) AS new_levels
"""
_NEW_COUNTS = f"""
    SELECT count(*) AS created, count(*) FILTER (WHERE moves) AS changed
    FROM {STAGED} WHERE is_new AND ord <> ALL(CAST(:refused AS bigint[]))
"""
# How many times a statement inserting rows that were missing is run again when another
# transaction committed one of them meanwhile.
INSERT_ATTEMPTS = 5


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
        created = await _inserting_missing(conn, lambda: conn.execute(text(_CREATE_PRODUCTS)))
        products_created = int(created.scalar_one())
    staging = _stage_sql(options.mode)
    total = await _inserting_missing(
        conn,
        lambda: stage_movements(conn, staging, {"reason": reason, "reference": reference}),
    )
    counts = (await conn.execute(text(_COUNTS))).one()
    planned, new_levels = int(counts.planned), int(counts.new_levels)
    skipped = planned - total
    if skipped:
        await progress(skipped)

    failures: list[StagedFailure] = []
    refused: list[RowProblem] = []

    async def refuse(found: list[StagedFailure]) -> None:
        # Their lines are read now: a partial import sets their staged rows aside.
        failures.extend(found)
        refused.extend(await _refused_rows(conn, found, options.mode))

    changed = 0
    judge_only = options.dry_run
    for first, last, recorded in _slices(total, new_levels, slice_rows):
        outcome = await apply_staged(
            conn, context, first, last, judge_only=judge_only, recorded=recorded
        )
        rounds = 1
        while outcome.failures and options.allow_partial and not judge_only:
            await refuse(outcome.failures)
            if rounds == MAX_ROUNDS:
                raise RuntimeError("a partial import slice kept failing")
            await _set_aside(conn, [f.ord for f in outcome.failures])
            outcome = await apply_staged(conn, context, first, last, recorded=recorded)
            rounds += 1
        if outcome.failures:
            await refuse(outcome.failures)
            # All or nothing: the import is refused, but the other rows are still judged
            # (writing nothing) so that every refused row is reported at once.
            judge_only = judge_only or not options.allow_partial
        changed += outcome.changed
        await progress(skipped + last)

    refused.sort(key=lambda p: p.line or 0)
    if refused and not options.allow_partial:
        raise ImportRefusedError(refused)
    refused_ords = [f.ord for f in failures]
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


async def _inserting_missing(conn: AsyncConnection, insert: Callable[[], Awaitable[T]]) -> T:
    """Run a statement that inserts the rows missing from its snapshot (products, levels) as a
    plain INSERT: ON CONFLICT's speculative insertion costs about an eighth more a row. When
    another transaction has committed one of those rows since, the statement fails on the
    unique key and runs again: its new snapshot sees that row and leaves it out."""
    for attempt in range(INSERT_ATTEMPTS):
        try:
            async with conn.begin_nested():
                return await insert()
        except IntegrityError as error:
            if sqlstate(error) != UNIQUE_VIOLATION or attempt == INSERT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


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
        text(f"SELECT ord, line, quantity FROM {STAGED} WHERE ord = ANY(CAST(:ords AS bigint[]))"),
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
    return problems


async def _set_aside(conn: AsyncConnection, refused: list[int]) -> None:
    """Rows the ledger refused, in a partial import, leave the staged movements (so that their
    slice can run again without them), and levels this import created for them go (no other
    transaction can have seen, let alone moved, them): a partial import leaves no trace of its
    refused rows."""
    await conn.execute(
        text(
            f"""
            WITH gone AS (
                DELETE FROM {STAGED} WHERE ord = ANY(CAST(:ords AS bigint[]))
                RETURNING level_id, is_new
            )
            DELETE FROM inventory_levels l USING gone WHERE gone.is_new AND l.id = gone.level_id
            """
        ),
        {"ords": refused},
    )
