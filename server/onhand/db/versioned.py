"""Optimistic concurrency for editable rows (warehouses, products, channels, webhooks): an
edit bumps the row's version, and a client that read version N may ask that its edit apply
only while the row is still at N."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Row, Table, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode


async def versioned_update(
    conn: AsyncConnection,
    table: Table,
    row_id: int,
    values: Mapping[str, Any],
    expected_version: int | None,
    noun: str,
    duplicate: Callable[[], DomainError] | None = None,
) -> Row[Any]:
    """Update the row `row_id` of `table` (at `expected_version` when given) and return it;
    NOT_FOUND or VERSION_CONFLICT (with the current version) when no row matched. A unique
    violation becomes `duplicate()` (ALREADY_EXISTS, say), the row left as it was."""
    condition = table.c.id == row_id
    if expected_version is not None:
        condition = and_(condition, table.c.version == expected_version)
    statement = (
        update(table)
        .where(condition)
        .values(**values, version=table.c.version + 1, updated_at=func.now())
        .returning(table)
    )
    try:
        async with conn.begin_nested():
            row = (await conn.execute(statement)).first()
    except IntegrityError as error:
        if duplicate is None:
            raise
        raise duplicate() from error
    if row is not None:
        return row
    current = (await conn.execute(select(table.c.version).where(table.c.id == row_id))).scalar()
    if current is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"{noun} {row_id} does not exist", "id")
    raise DomainError.of(
        ErrorCode.VERSION_CONFLICT,
        f"{noun} is at version {current}, not {expected_version}",
        "expectedVersion",
        current_version=current,
    )
