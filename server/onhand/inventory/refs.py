"""Resolving references (onhand.core.refs.Ref) to product and warehouse ids: one query for
all of a request's references, every unknown one reported by the field that named it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.db.tables import products, warehouses


async def resolve_warehouse(conn: AsyncConnection, ref: Ref) -> int:
    return (await resolve_warehouses(conn, [ref]))[0]


async def resolve_product(conn: AsyncConnection, ref: Ref) -> int:
    return (await resolve_products(conn, [ref]))[0]


async def resolve_warehouses(conn: AsyncConnection, refs: Sequence[Ref]) -> list[int]:
    return await _resolve(conn, refs, "warehouse", warehouses.c.id, warehouses.c.code)


async def resolve_products(conn: AsyncConnection, refs: Sequence[Ref]) -> list[int]:
    return await _resolve(conn, refs, "product", products.c.id, products.c.sku)


async def _resolve(
    conn: AsyncConnection,
    refs: Sequence[Ref],
    what: str,
    id_column: Column[Any],
    key_column: Column[Any],
) -> list[int]:
    """One query for all refs; every unknown one is reported, by field."""
    ids = {r.id for r in refs if r.id is not None}
    keys = {r.key for r in refs if r.key is not None}
    known_ids: set[int] = set()
    by_key: dict[str, int] = {}
    if ids or keys:
        rows = await conn.execute(
            select(id_column, key_column).where(id_column.in_(ids) | key_column.in_(keys))
        )
        for row_id, row_key in rows:
            known_ids.add(row_id)
            by_key[row_key] = row_id
    resolved: list[int] = []
    problems: list[Problem] = []
    for ref in refs:
        if ref.id is not None and ref.id in known_ids:
            resolved.append(ref.id)
        elif ref.key is not None and ref.key in by_key:
            resolved.append(by_key[ref.key])
        else:
            named = ref.key if ref.key is not None else ref.id
            problems.append(
                Problem(ErrorCode.NOT_FOUND, f"{what} {named} does not exist", ref.field)
            )
    if problems:
        raise DomainError(*problems)
    return resolved
