"""Preorder caps: how many units of a product may be preordered, across the product or at one
level (setPreorderCap). Clearing a cap stops new preorders; the ones waiting still convert
when stock comes. What is preordered is always summed from the active preorders, never kept
as a counter, so it cannot drift from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.inventory.preorders.model import PreorderCap
from onhand.inventory.refs import resolve_product, resolve_warehouse


@dataclass(frozen=True)
class SetPreorderCap:
    product: Ref
    warehouse: Ref | None  # None: the product-wide cap
    cap: int | None  # None clears it


# The active preorders in a cap's scope: the product-wide cap counts those waiting for any
# warehouse, a level's cap those waiting at it.
PREORDERED = """(SELECT coalesce(sum(p.quantity), 0)::int FROM preorders p
    WHERE p.product_id = c.product_id AND p.status = 'ACTIVE'
      AND p.warehouse_id IS NOT DISTINCT FROM c.warehouse_id)"""

_SET = text(
    f"""
    WITH c AS (
        INSERT INTO preorder_caps AS pc (product_id, warehouse_id, cap)
        VALUES (:product, :warehouse, :cap)
        ON CONFLICT (product_id, coalesce(warehouse_id, 0)) DO UPDATE SET
            cap = EXCLUDED.cap, version = pc.version + 1, updated_at = now()
        RETURNING *
    )
    SELECT c.*, {PREORDERED} AS preordered FROM c
    """
)
_CLEAR = text(
    """
    DELETE FROM preorder_caps
    WHERE product_id = :product AND coalesce(warehouse_id, 0) = coalesce(:warehouse, 0)
    """
)
_OF_PRODUCTS = text(
    f"""
    SELECT c.*, {PREORDERED} AS preordered FROM preorder_caps c
    WHERE c.product_id = ANY(CAST(:products AS bigint[]))
    ORDER BY c.product_id, c.warehouse_id NULLS FIRST
    """
)
# The cap a new preorder counts against, locked: preorders of one scope take turns. What is
# preordered is summed by a statement of its own, after the lock is held: a statement that
# waited for the lock still reads with the snapshot it started with, which would miss the
# preorders committed by the holder it waited for.
LOCK_CAP = text(
    """
    SELECT * FROM preorder_caps
    WHERE product_id = :product AND coalesce(warehouse_id, 0) = coalesce(:warehouse, 0)
    FOR UPDATE
    """
)
PREORDERED_NOW = text(f"SELECT {PREORDERED} AS preordered FROM preorder_caps c WHERE c.id = :id")
_IS_KIT = text("SELECT is_kit FROM products WHERE id = :id")


async def refuse_a_kit(conn: AsyncConnection, product_id: int, field: str) -> None:
    """A kit holds no stock and is never received, so no receipt would convert its
    preorders: it takes none (its components do)."""
    if (await conn.execute(_IS_KIT, {"id": product_id})).scalar_one_or_none():
        raise DomainError.of(
            ErrorCode.KIT_HAS_NO_STOCK,
            "this product is a kit: it is never received, so its preorders would never"
            " convert; take preorders of its components",
            field,
        )


async def set_preorder_cap(
    conn: AsyncConnection, request: SetPreorderCap
) -> tuple[int, int | None, PreorderCap | None]:
    """The product and warehouse ids, and the cap now (None: cleared). A cap below what is
    preordered already takes no more preorders and releases none."""
    errors = Collector()
    check.quantity(errors, "cap", request.cap)
    errors.raise_if_any()
    product_id = await resolve_product(conn, request.product)
    await refuse_a_kit(conn, product_id, request.product.field)
    warehouse_id = (
        await resolve_warehouse(conn, request.warehouse) if request.warehouse is not None else None
    )
    params = {"product": product_id, "warehouse": warehouse_id, "cap": request.cap}
    if request.cap is None:
        await conn.execute(_CLEAR, params)
        return product_id, warehouse_id, None
    row = (await conn.execute(_SET, params)).one()
    return product_id, warehouse_id, PreorderCap.from_row(row)


async def preorder_caps_of(
    conn: AsyncConnection, product_ids: Sequence[int]
) -> dict[int, list[PreorderCap]]:
    """Each product's caps: the product-wide one first, then its levels'."""
    rows = await conn.execute(_OF_PRODUCTS, {"products": list(product_ids)})
    found: dict[int, list[PreorderCap]] = {}
    for row in rows:
        found.setdefault(row.product_id, []).append(PreorderCap.from_row(row))
    return found
