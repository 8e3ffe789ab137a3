"""createTransferOrder: a PENDING order whose units are held at the source by TRANSFER
reservations (one per line, referenceId = the order's number), made in the same transaction
through the reservation path, so the ledger judges them like any other hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.ledger import ChangeContext
from onhand.inventory.refs import resolve_products, resolve_warehouses
from onhand.inventory.reservations.model import ReservationType
from onhand.inventory.reservations.requests import ReserveLine, ReserveRequest, Terms
from onhand.inventory.reservations.reserving import reserve
from onhand.inventory.transfers.orders import (
    MAX_ITEMS,
    MAX_TEXT,
    TransferOrder,
    announce,
    number_of,
    reload,
)


@dataclass(frozen=True)
class TransferItem:
    product: Ref
    quantity: int


@dataclass(frozen=True)
class CreateTransfer:
    from_warehouse: Ref
    to_warehouse: Ref
    items: tuple[TransferItem, ...]
    expected_delivery: datetime | None = None
    notes: str | None = None
    idempotency_key: str | None = None


_INSERT_ORDER = text(
    """
    INSERT INTO transfer_orders (from_warehouse_id, to_warehouse_id, expected_delivery, notes,
        actor)
    VALUES (:source, :target, :expected_delivery, :notes, :actor)
    RETURNING id
    """
)
_INSERT_LINES = text(
    """
    INSERT INTO transfer_order_lines (transfer_order_id, product_id, quantity, reservation_id)
    SELECT :order_id, l.product_id, l.quantity, l.reservation_id
    FROM unnest(CAST(:product_id AS bigint[]), CAST(:quantity AS int[]),
        CAST(:reservation_id AS bigint[])) WITH ORDINALITY AS l(product_id, quantity,
        reservation_id, ord)
    ORDER BY l.ord
    """
)
_ACTIVE = text("SELECT id, is_active FROM warehouses WHERE id = ANY(CAST(:ids AS bigint[]))")


def _validate(request: CreateTransfer) -> Collector:
    errors = Collector()
    if not request.items:
        errors.add(ErrorCode.REQUIRED, "give at least one item to transfer", "items")
    elif len(request.items) > MAX_ITEMS:
        errors.invalid("items", f"at most {MAX_ITEMS} items per transfer order")
    for i, item in enumerate(request.items):
        check.quantity(errors, f"items.{i}.quantity", item.quantity, allow_zero=False)
    check.text(errors, "notes", request.notes, max_length=MAX_TEXT)
    when = request.expected_delivery
    if when is not None and when.tzinfo is None:
        errors.invalid("expectedDelivery", "expectedDelivery must include a timezone")
    source, target = request.from_warehouse, request.to_warehouse
    if (source.id is not None and source.id == target.id) or (
        source.key is not None and source.key == target.key
    ):
        errors.invalid("toWarehouseId", "a transfer needs two different warehouses")
    return errors


async def create_transfer_order(
    conn: AsyncConnection, request: CreateTransfer, context: ChangeContext, terms: Terms
) -> TransferOrder:
    errors = _validate(request)
    claim = claim_for("createTransferOrder", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return TransferOrder.from_json(replay)
    source, target = await resolve_warehouses(conn, [request.from_warehouse, request.to_warehouse])
    if source == target:
        raise DomainError.of(
            ErrorCode.INVALID, "a transfer needs two different warehouses", "toWarehouseId"
        )
    active = {
        row.id: row.is_active for row in await conn.execute(_ACTIVE, {"ids": [source, target]})
    }
    problems = [
        Problem(ErrorCode.INVALID, "this warehouse is inactive", ref.field)
        for ref, wid in ((request.from_warehouse, source), (request.to_warehouse, target))
        if not active.get(wid, False)
    ]
    product_ids = await resolve_products(conn, [item.product for item in request.items])
    seen: set[int] = set()
    for i, product_id in enumerate(product_ids):
        if product_id in seen:
            problems.append(
                Problem(
                    ErrorCode.INVALID,
                    "this product is already on the order; give each product once",
                    request.items[i].product.field,
                )
            )
        seen.add(product_id)
    if problems:
        raise DomainError(*problems)
    order_id = (
        await conn.execute(
            _INSERT_ORDER,
            {
                "source": source,
                "target": target,
                "expected_delivery": request.expected_delivery,
                "notes": check.text(Collector(), "notes", request.notes, max_length=MAX_TEXT),
                "actor": context.actor,
            },
        )
    ).scalar_one()
    held = await _hold(conn, order_id, source, product_ids, request, context, terms)
    await conn.execute(
        _INSERT_LINES,
        {
            "order_id": order_id,
            "product_id": product_ids,
            "quantity": [item.quantity for item in request.items],
            "reservation_id": [held[p] for p in product_ids],
        },
    )
    order = await reload(conn, order_id)
    await announce(conn, order, "CREATED", context.actor)
    await remember(conn, claim, order.to_json())
    return order


async def _hold(
    conn: AsyncConnection,
    order_id: int,
    source: int,
    product_ids: list[int],
    request: CreateTransfer,
    context: ChangeContext,
    terms: Terms,
) -> dict[int, int]:
    """Reserve every item at the source; returns the reservation id by product."""
    reserve_request = ReserveRequest(
        lines=tuple(
            ReserveLine(
                Ref(id=product_id), item.quantity, warehouse=Ref(id=source), prefix=f"items.{i}."
            )
            for i, (product_id, item) in enumerate(zip(product_ids, request.items, strict=True))
        ),
        type=ReservationType.TRANSFER,
        reference_id=number_of(order_id),
        operation="createTransferOrder",
    )
    try:
        made = await reserve(conn, reserve_request, context, terms)
    except DomainError as error:
        # The reservation path names the line's warehouse; here the product is what is short
        # or not stocked at the source.
        raise DomainError(
            *(Problem(p.code, p.message, _item_field(p.field), p.details) for p in error.problems)
        ) from error
    return {r.product_id: r.id for r in made.reservations}


def _item_field(name: str | None) -> str | None:
    if name is not None and name.startswith("items.") and name.endswith(".warehouseId"):
        return name.removesuffix("warehouseId") + "productId"
    return name
