"""Products: what is stocked, named by a unique SKU."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.core.records import Product
from onhand.db.sql import contains_any
from onhand.db.tables import products
from onhand.db.versioned import versioned_update

EDITABLE = ("sku", "name", "external_product_id", "external_variant_id", "is_active")
MAX_UPSERT = 1000


@dataclass(frozen=True)
class ProductFilter:
    search: str | None = None
    is_active: bool | None = None
    skus: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpsertResult:
    products: list[Product]
    created: int
    updated: int
    unchanged: int


def _validate(values: Mapping[str, Any], errors: Collector, prefix: str = "") -> dict[str, Any]:
    clean = dict(values)
    if "sku" in values:
        check.sku(errors, f"{prefix}sku", values["sku"])
    if "name" in values:
        clean["name"] = check.text(
            errors, f"{prefix}name", values["name"], max_length=300, required=True
        )
    for name in ("external_product_id", "external_variant_id"):
        if name in values:
            clean[name] = check.text(
                errors, f"{prefix}{check.camel(name)}", values[name], max_length=200
            )
    if "is_active" in values and values["is_active"] is None:
        errors.invalid(f"{prefix}isActive", "isActive must be true or false")
    return clean


async def create_product(conn: AsyncConnection, values: Mapping[str, Any]) -> Product:
    errors = Collector()
    for required in ("sku", "name"):
        if values.get(required) is None:
            errors.add(ErrorCode.REQUIRED, f"{required} is required", required)
    clean = _validate(values, errors)
    errors.raise_if_any()
    try:
        async with conn.begin_nested():
            row = (await conn.execute(insert(products).values(**clean).returning(products))).one()
    except IntegrityError as error:
        raise _duplicate_sku(clean["sku"]) from error
    return Product.from_row(row)


async def update_product(
    conn: AsyncConnection,
    product_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> Product:
    errors = Collector()
    clean = _validate(changes, errors)
    errors.raise_if_any()
    row = await versioned_update(
        conn,
        products,
        product_id,
        clean,
        expected_version,
        "product",
        lambda: _duplicate_sku(clean.get("sku")),
    )
    return Product.from_row(row)


_UPSERT_SQL = text(
    """
    INSERT INTO products (sku, name, external_product_id, external_variant_id, is_active)
    SELECT * FROM unnest(CAST(:sku AS text[]), CAST(:name AS text[]),
        CAST(:external_product_id AS text[]), CAST(:external_variant_id AS text[]),
        CAST(:is_active AS boolean[]))
    ON CONFLICT (sku) DO UPDATE SET
        name = EXCLUDED.name,
        external_product_id = EXCLUDED.external_product_id,
        external_variant_id = EXCLUDED.external_variant_id,
        is_active = EXCLUDED.is_active,
        version = products.version + 1,
        updated_at = now()
    WHERE (products.name, products.external_product_id, products.external_variant_id,
           products.is_active)
        IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.external_product_id,
           EXCLUDED.external_variant_id, EXCLUDED.is_active)
    RETURNING id, (xmax = 0) AS inserted
    """
)


async def upsert_products(
    conn: AsyncConnection, items: Sequence[Mapping[str, Any]], field: str = "products"
) -> UpsertResult:
    """Create or update products by SKU in one statement; unchanged ones are left alone."""
    errors = Collector()
    if len(items) > MAX_UPSERT:
        errors.invalid(field, f"at most {MAX_UPSERT} products per call (got {len(items)})")
    seen: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        prefix = f"{field}.{index}."
        for required in ("sku", "name"):
            if item.get(required) is None:
                errors.add(ErrorCode.REQUIRED, f"{required} is required", prefix + required)
        clean = _validate(item, errors, prefix)
        sku = clean.get("sku")
        if sku in seen:
            errors.invalid(prefix + "sku", f"sku {sku!r} appears twice (also at {seen[sku]})")
        elif sku is not None:
            seen[sku] = index
        rows.append(clean)
    errors.raise_if_any()
    params = {
        "sku": [r["sku"] for r in rows],
        "name": [r["name"] for r in rows],
        "external_product_id": [r.get("external_product_id") for r in rows],
        "external_variant_id": [r.get("external_variant_id") for r in rows],
        "is_active": [r.get("is_active", True) for r in rows],
    }
    changed = (await conn.execute(_UPSERT_SQL, params)).all()
    created = sum(1 for row in changed if row.inserted)
    by_sku = await products_by_skus(conn, params["sku"])
    return UpsertResult(
        products=[by_sku[sku] for sku in params["sku"]],
        created=created,
        updated=len(changed) - created,
        unchanged=len(rows) - len(changed),
    )


def _duplicate_sku(sku: str | None) -> DomainError:
    return DomainError.of(
        ErrorCode.ALREADY_EXISTS, f"a product with sku {sku!r} already exists", "sku"
    )


async def get_product(conn: AsyncConnection, product_id: int) -> Product | None:
    row = (await conn.execute(select(products).where(products.c.id == product_id))).first()
    return Product.from_row(row) if row else None


async def products_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Product]:
    rows = await conn.execute(select(products).where(products.c.id.in_(ids)))
    return {row.id: Product.from_row(row) for row in rows}


async def products_by_skus(conn: AsyncConnection, skus: Sequence[str]) -> dict[str, Product]:
    rows = await conn.execute(select(products).where(products.c.sku.in_(skus)))
    return {row.sku: Product.from_row(row) for row in rows}


def product_listing(filters: ProductFilter) -> Listing:
    query = select(products)
    if filters.is_active is not None:
        query = query.where(products.c.is_active == filters.is_active)
    if filters.skus:
        query = query.where(products.c.sku.in_(filters.skus))
    if filters.search:
        query = query.where(contains_any(filters.search, products.c.sku, products.c.name))
    return Listing(query, products.c.id)
