"""Inventory levels (product x warehouse): creating one, setting it absolutely, and reading."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.core.records import Level
from onhand.core.refs import Ref
from onhand.db.tables import inventory_levels
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.kits.availability import kit_stock
from onhand.inventory.kits.stockless import kit_products, no_stock
from onhand.inventory.ledger import (
    AppliedMovement,
    ChangeContext,
    Movement,
    MovementType,
    Settings,
    StockRule,
    apply_change,
)
from onhand.inventory.refs import resolve_product, resolve_warehouse


@dataclass(frozen=True)
class CreateLevel:
    product: Ref
    warehouse: Ref
    quantity: int = 0
    reserved_quantity: int = 0
    safety_stock: int = 0
    reorder_point: int = 0
    reorder_quantity: int = 0
    reason: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SetLevel:
    """Absolute values; None leaves a value as it is."""

    product: Ref
    warehouse: Ref
    quantity: int | None = None
    damaged: int | None = None
    quarantined: int | None = None
    safety_stock: int | None = None
    reorder_point: int | None = None
    reorder_quantity: int | None = None
    expected_version: int | None = None
    reason: str | None = None
    type: MovementType = MovementType.SET
    occurred_at: datetime | None = None
    reference_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class LevelChange:
    level: Level
    movement_id: int | None


@dataclass(frozen=True)
class LevelFilter:
    warehouse_id: int | None = None
    product_id: int | None = None
    product_ids: Sequence[int] = ()
    # At or below safety stock: nothing left to sell once safety stock is kept (available <= 0).
    below_safety_stock: bool = False
    include_zero: bool = False
    available_at_most: int | None = None


@dataclass(frozen=True)
class ProductTotals:
    product_id: int
    on_hand: int
    reserved: int
    committed: int
    incoming: int
    damaged: int
    quarantined: int
    safety_stock: int
    available: int
    warehouses: int


# Never for a kit (it holds no stock). The product row is read FOR KEY SHARE, as the foreign
# key would lock it: a kit being defined meanwhile is seen as a kit once it commits.
_CREATE = text(
    """
    INSERT INTO inventory_levels (product_id, warehouse_id)
    SELECT p.id, :warehouse FROM products p WHERE p.id = :product AND NOT p.is_kit
    FOR KEY SHARE
    ON CONFLICT (product_id, warehouse_id) DO NOTHING
    RETURNING id
    """
)


async def create_level(
    conn: AsyncConnection, request: CreateLevel, context: ChangeContext
) -> LevelChange:
    errors = Collector()
    for name in ("quantity", "safety_stock", "reorder_point", "reorder_quantity"):
        check.quantity(errors, check.camel(name), getattr(request, name))
    if request.reserved_quantity:
        # A hold needs what this input does not carry (its type, reference and expiry), or
        # nobody could ever release it: the client makes it with createReservation.
        errors.invalid(
            "reservedQuantity",
            f"reservedQuantity must be 0 (got {request.reserved_quantity}): reserved stock is"
            " held by reservations, each with its type, reference and expiry. Create the level"
            " without it, then call createReservation(input: {productId, warehouseId, quantity:"
            f" {request.reserved_quantity}, type: ORDER, referenceId}}) for the units held"
            " (type CART or TRANSFER for holds that expire)",
        )
    reason = check.text(errors, "reason", request.reason, max_length=500)
    idempotency = claim_for("createInventoryLevel", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, idempotency, context.actor)
    if replay is not None:
        return _change_from_json(replay)
    product_id = await resolve_product(conn, request.product)
    warehouse_id = await resolve_warehouse(conn, request.warehouse)
    created = await conn.execute(_CREATE, {"product": product_id, "warehouse": warehouse_id})
    if created.first() is None:
        kits = await kit_products(conn, [product_id])
        if kits:
            raise DomainError(no_stock(kits[product_id], request.product.field))
        raise DomainError.of(
            ErrorCode.ALREADY_EXISTS,
            "this product already has an inventory level at this warehouse;"
            " use setInventoryLevel or adjustInventory",
            request.product.field,
        )
    initial = Movement(
        product_id,
        warehouse_id,
        MovementType.INITIAL,
        set_to=Settings(
            on_hand=request.quantity,
            safety_stock=request.safety_stock,
            reorder_point=request.reorder_point,
            reorder_quantity=request.reorder_quantity,
        ),
        rule=StockRule.PHYSICAL,
        reason=reason or "initial stock",
    )
    [applied] = await apply_change(conn, [initial], context)
    result = _change_from_applied(applied)
    await remember(conn, idempotency, _change_to_json(result))
    return result


async def set_level(
    conn: AsyncConnection, request: SetLevel, context: ChangeContext
) -> LevelChange:
    """Set absolute values, creating the level when it does not exist yet (unless an
    expectedVersion says the caller expects an existing one)."""
    errors = Collector()
    values = {
        "quantity": request.quantity,
        "damaged": request.damaged,
        "quarantined": request.quarantined,
        "safety_stock": request.safety_stock,
        "reorder_point": request.reorder_point,
        "reorder_quantity": request.reorder_quantity,
    }
    for name, value in values.items():
        check.quantity(errors, check.camel(name), value)
    if all(value is None for value in values.values()):
        errors.add(ErrorCode.REQUIRED, "give at least one quantity to set", "quantity")
    reason = check.text(errors, "reason", request.reason, max_length=500)
    occurred_at = check.timestamp(errors, "timestamp", request.occurred_at)
    reference_id = check.text(errors, "referenceId", request.reference_id, max_length=200)
    idempotency = claim_for("setInventoryLevel", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, idempotency, context.actor)
    if replay is not None:
        return _change_from_json(replay)
    product_id = await resolve_product(conn, request.product)
    warehouse_id = await resolve_warehouse(conn, request.warehouse)
    movement = Movement(
        product_id,
        warehouse_id,
        request.type,
        set_to=Settings(
            on_hand=request.quantity,
            damaged=request.damaged,
            quarantined=request.quarantined,
            safety_stock=request.safety_stock,
            reorder_point=request.reorder_point,
            reorder_quantity=request.reorder_quantity,
        ),
        rule=StockRule.PHYSICAL,
        expected_version=request.expected_version,
        reason=reason,
        reference_id=reference_id,
    )
    change_context = ChangeContext(
        actor=context.actor,
        source=context.source,
        occurred_at=occurred_at,
        correlation_id=context.correlation_id,
        create_missing_levels=request.expected_version is None,
    )
    try:
        [applied] = await apply_change(conn, [movement], change_context)
    except DomainError as error:
        raise _naming_fields(error, request) from error
    result = _change_from_applied(applied)
    await remember(conn, idempotency, _change_to_json(result))
    return result


def _naming_fields(error: DomainError, request: SetLevel) -> DomainError:
    """The ledger's verdict on a set, each problem named by the input field it is about."""
    # On hand may not drop below what is held: the first of the values given that decide it.
    held = next(
        (n for n in ("quantity", "damaged", "quarantined") if getattr(request, n) is not None),
        "quantity",
    )
    fields = {
        ErrorCode.NOT_FOUND: request.product.field,
        ErrorCode.VERSION_CONFLICT: "expectedVersion",
        ErrorCode.INSUFFICIENT_STOCK: held,
    }
    return DomainError(*(replace(p, field=p.field or fields.get(p.code)) for p in error.problems))


def _change_from_applied(applied: AppliedMovement) -> LevelChange:
    return LevelChange(applied.level, applied.movement_id)


def _change_to_json(change: LevelChange) -> dict[str, object]:
    return {"level": change.level.to_json(), "movement_id": change.movement_id}


def _change_from_json(data: dict[str, object]) -> LevelChange:
    return LevelChange(Level.from_json(data["level"]), data["movement_id"])  # type: ignore[arg-type]  # JSON written by _change_to_json


async def get_level(conn: AsyncConnection, product_id: int, warehouse_id: int) -> Level | None:
    row = (
        await conn.execute(
            select(inventory_levels).where(
                inventory_levels.c.product_id == product_id,
                inventory_levels.c.warehouse_id == warehouse_id,
            )
        )
    ).first()
    return Level.from_row(row) if row else None


async def levels_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Level]:
    rows = await conn.execute(select(inventory_levels).where(inventory_levels.c.id.in_(ids)))
    return {row.id: Level.from_row(row) for row in rows}


async def levels_by_pairs(
    conn: AsyncConnection, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], Level]:
    """Levels by (product_id, warehouse_id)."""
    key = tuple_(inventory_levels.c.product_id, inventory_levels.c.warehouse_id)
    rows = await conn.execute(select(inventory_levels).where(key.in_(list(pairs))))
    return {(row.product_id, row.warehouse_id): Level.from_row(row) for row in rows}


async def levels_by_products(
    conn: AsyncConnection, product_ids: Sequence[int]
) -> dict[int, list[Level]]:
    rows = await conn.execute(
        select(inventory_levels)
        .where(inventory_levels.c.product_id.in_(product_ids))
        .order_by(inventory_levels.c.warehouse_id)
    )
    grouped: dict[int, list[Level]] = {pid: [] for pid in product_ids}
    for row in rows:
        grouped[row.product_id].append(Level.from_row(row))
    return grouped


async def totals_by_products(
    conn: AsyncConnection, product_ids: Sequence[int]
) -> dict[int, ProductTotals]:
    """Each product's stock summed across warehouses (zeros for a product with no levels)."""
    lv = inventory_levels.c
    buckets = (lv.on_hand, lv.reserved, lv.committed, lv.incoming, lv.damaged, lv.quarantined)
    sums = [
        *(
            func.coalesce(func.sum(column), 0).label(column.key)
            for column in (*buckets, lv.safety_stock)
        ),
        # A warehouse short of its safety stock does not take availability from the others.
        func.coalesce(func.sum(func.greatest(lv.available, 0)), 0).label("available"),
    ]
    rows = await conn.execute(
        select(lv.product_id, *sums, func.count().label("warehouses"))
        .where(lv.product_id.in_(product_ids))
        .group_by(lv.product_id)
    )
    totals = {row.product_id: ProductTotals(**row._mapping) for row in rows}
    # A product with no level may be a kit: its figures are its whole kits (kits/).
    bare = [pid for pid in product_ids if pid not in totals]
    for kit_id, stock in (await kit_stock(conn, bare)).items():
        totals[kit_id] = ProductTotals(
            kit_id,
            on_hand=sum(s.on_hand for s in stock),
            reserved=0,
            committed=0,
            incoming=0,
            damaged=0,
            quarantined=0,
            safety_stock=0,
            available=sum(s.available for s in stock),
            warehouses=len(stock),
        )
    empty = dict.fromkeys(
        ("on_hand", "reserved", "committed", "incoming", "damaged", "quarantined"), 0
    )
    return {
        pid: totals.get(pid)
        or ProductTotals(pid, **empty, safety_stock=0, available=0, warehouses=0)
        for pid in product_ids
    }


def level_listing(filters: LevelFilter) -> Listing:
    lv = inventory_levels.c
    query = select(inventory_levels)
    if filters.warehouse_id is not None:
        query = query.where(lv.warehouse_id == filters.warehouse_id)
    if filters.product_id is not None:
        query = query.where(lv.product_id == filters.product_id)
    if filters.product_ids:
        query = query.where(lv.product_id.in_(filters.product_ids))
    if filters.below_safety_stock:
        query = query.where(lv.available <= 0)
    if filters.available_at_most is not None:
        query = query.where(lv.available <= filters.available_at_most)
    if not filters.include_zero:
        held = lv.reserved + lv.committed + lv.incoming + lv.damaged + lv.quarantined
        query = query.where(or_(lv.on_hand != 0, held > 0))
    return Listing(query, lv.id)
