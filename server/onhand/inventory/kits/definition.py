"""Defining a kit: setKitComponents replaces a product's components (none: it is a kit no
more). The rules: a kit has no inventory level of its own (it holds no stock), a kit is never
a component of another kit (one level of nesting, so no cycle can form), a component exists,
is not the kit itself and is named once, and its quantity per kit is at least 1.

The kit and its components are locked (FOR UPDATE, in id order) while the rules are checked,
so two definitions at once cannot nest kits, and a level being created for the product waits
(its foreign key locks the product row) and then sees it is a kit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.inventory.kits.events import announce_kits
from onhand.inventory.refs import resolve_products

MAX_COMPONENTS = 50


@dataclass(frozen=True, slots=True)
class ComponentLine:
    product: Ref
    quantity: int


@dataclass(frozen=True, slots=True)
class SetKit:
    product: Ref
    components: tuple[ComponentLine, ...]


@dataclass(frozen=True, slots=True)
class Component:
    kit_product_id: int
    product_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class KitDefinition:
    kit_id: int
    components: list[Component]


_LOCK = text(
    """
    SELECT id, sku, is_kit FROM products WHERE id = ANY(CAST(:ids AS bigint[]))
    ORDER BY id FOR UPDATE
    """
)
_LEVELS = text("SELECT count(*) FROM inventory_levels WHERE product_id = :id")
_KITS_CONTAINING = text(
    """
    SELECT p.sku FROM kit_components k JOIN products p ON p.id = k.kit_product_id
    WHERE k.component_product_id = :id ORDER BY p.sku LIMIT 1
    """
)
_REPLACE = text(
    """
    WITH gone AS (DELETE FROM kit_components WHERE kit_product_id = :kit),
    made AS (
        INSERT INTO kit_components (kit_product_id, component_product_id, quantity)
        SELECT :kit, c.product_id, c.quantity
        FROM unnest(CAST(:products AS bigint[]), CAST(:quantities AS int[]))
            AS c(product_id, quantity)
    )
    UPDATE products SET is_kit = :is_kit, version = version + 1, updated_at = now()
    WHERE id = :kit
    """
)
_COMPONENTS = text(
    """
    SELECT kit_product_id, component_product_id AS product_id, quantity FROM kit_components
    WHERE kit_product_id = ANY(CAST(:ids AS bigint[]))
    ORDER BY kit_product_id, component_product_id
    """
)


def _validated(request: SetKit) -> None:
    errors = Collector()
    if len(request.components) > MAX_COMPONENTS:
        errors.invalid("components", f"a kit has at most {MAX_COMPONENTS} components")
    for i, line in enumerate(request.components):
        name = f"components.{i}.quantity"
        check.quantity(errors, name, line.quantity)
        if line.quantity < 1 and line.quantity >= 0:
            errors.invalid(name, f"{name} must be at least 1 (units of it in one kit)")
    errors.raise_if_any()


async def set_kit_components(conn: AsyncConnection, request: SetKit) -> KitDefinition:
    """Replace the kit's components; returns them. The kit's channels hear of its new
    availability (KIT_AVAILABILITY_CHANGED)."""
    _validated(request)
    refs = [request.product, *(line.product for line in request.components)]
    [kit_id, *component_ids] = await resolve_products(conn, refs)
    problems: list[Problem] = []
    seen: dict[int, int] = {}
    for i, (line, product_id) in enumerate(zip(request.components, component_ids, strict=True)):
        where = line.product.field
        if product_id == kit_id:
            problems.append(Problem(ErrorCode.INVALID, "a kit cannot contain itself", where))
        elif product_id in seen:
            problems.append(
                Problem(
                    ErrorCode.INVALID,
                    f"this product is named already (components.{seen[product_id]}): give its"
                    " units per kit once",
                    where,
                )
            )
        seen.setdefault(product_id, i)
    if problems:
        raise DomainError(*problems)
    rows = {
        row.id: row for row in await conn.execute(_LOCK, {"ids": sorted({kit_id, *component_ids})})
    }
    for line, product_id in zip(request.components, component_ids, strict=True):
        if rows[product_id].is_kit:
            problems.append(
                Problem(
                    ErrorCode.KIT_NESTED,
                    f"{rows[product_id].sku} is a kit: a kit cannot contain a kit",
                    line.product.field,
                )
            )
    if request.components:
        containing = (await conn.execute(_KITS_CONTAINING, {"id": kit_id})).scalar()
        if containing is not None:
            problems.append(
                Problem(
                    ErrorCode.KIT_NESTED,
                    f"{rows[kit_id].sku} is a component of kit {containing}: a component"
                    " cannot be a kit",
                    request.product.field,
                )
            )
        levels = (await conn.execute(_LEVELS, {"id": kit_id})).scalar_one()
        if levels:
            problems.append(
                Problem(
                    ErrorCode.KIT_HAS_STOCK,
                    f"{rows[kit_id].sku} has {levels} inventory level(s): a kit holds no stock"
                    " of its own, its components do",
                    request.product.field,
                )
            )
    if problems:
        raise DomainError(*problems)
    # Announced at the warehouses of the components it had and of those it has now.
    await announce_kits(conn, [kit_id], "DEFINED")
    await conn.execute(
        _REPLACE,
        {
            "kit": kit_id,
            "products": component_ids,
            "quantities": [line.quantity for line in request.components],
            "is_kit": bool(request.components),
        },
    )
    await announce_kits(conn, [kit_id], "DEFINED")
    return KitDefinition(kit_id, (await components_of(conn, [kit_id])).get(kit_id, []))


async def components_of(
    conn: AsyncConnection, kit_ids: Sequence[int]
) -> dict[int, list[Component]]:
    """Each kit's components, by kit (a product that is no kit is left out)."""
    found: dict[int, list[Component]] = {}
    if not kit_ids:
        return found
    for row in await conn.execute(_COMPONENTS, {"ids": list(kit_ids)}):
        found.setdefault(row.kit_product_id, []).append(
            Component(row.kit_product_id, row.product_id, row.quantity)
        )
    return found
