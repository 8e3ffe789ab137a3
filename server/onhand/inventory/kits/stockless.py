"""A kit holds no stock: no inventory level is made for it, so a stock change naming a kit
finds no level. Only then (a refused change, never a successful one) is it asked whether the
product is a kit, to answer KIT_HAS_NO_STOCK instead of NOT_FOUND."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem

_KITS = text("SELECT id, sku FROM products WHERE is_kit AND id = ANY(CAST(:ids AS bigint[]))")


class NamesProduct(Protocol):
    @property
    def product_id(self) -> int: ...

    @property
    def field(self) -> str | None: ...


def no_stock(sku: str, field: str | None) -> Problem:
    return Problem(
        ErrorCode.KIT_HAS_NO_STOCK,
        f"{sku} is a kit: it holds no stock of its own; change its components' stock",
        field,
    )


async def kit_products(conn: AsyncConnection, product_ids: Sequence[int]) -> dict[int, str]:
    """The kits among these products, with their SKUs."""
    if not product_ids:
        return {}
    rows = await conn.execute(_KITS, {"ids": sorted(set(product_ids))})
    return {row.id: row.sku for row in rows}


async def kit_refusals(
    conn: AsyncConnection,
    movements: Sequence[NamesProduct],
    rows: Sequence[Any],
    error: DomainError,
) -> DomainError:
    """`error` (a refused ledger change) with its levels not found that are kits' said so."""
    missing = [movements[row["ord"] - 1] for row in rows if row["failure"] == "NOT_FOUND"]
    kits = await kit_products(conn, [m.product_id for m in missing])
    if not kits:
        return error
    problems = [no_stock(kits[m.product_id], m.field) for m in missing if m.product_id in kits]
    others = [p for p in error.problems if p.code != ErrorCode.NOT_FOUND]
    kept_missing = [
        p
        for m, p in zip(
            missing, [q for q in error.problems if q.code == ErrorCode.NOT_FOUND], strict=False
        )
        if m.product_id not in kits
    ]
    return DomainError(*problems, *kept_missing, *others)
