"""receiveTransferOrder: receipts at the destination, in as many parts as the goods arrive.

Each received unit moves from `incoming` to `onHand` at the destination (TRANSFER_IN). A line
closed short (closeShort, with a reason) writes the rest of its in-transit units off the
destination's `incoming` (TRANSFER_SHORT) and, when fewer units arrived than were shipped,
records a discrepancy (PENDING_INVESTIGATION) and a TRANSFER_DISCREPANCY event, in the same
transaction, for alerting. The order is COMPLETED once every shipped unit is received or
closed; until then it is PARTIALLY_RECEIVED. Receiving more than is still in transit is
EXCEEDS_SHIPPED and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.ledger import ChangeContext, Movement, MovementType, Quantities, apply_change
from onhand.inventory.refs import resolve_products
from onhand.inventory.transfers.orders import (
    MAX_ITEMS,
    MAX_TEXT,
    TransferLine,
    TransferOrder,
    TransferStatus,
    announce,
    lock_order,
    reload,
    set_status,
)
from onhand.inventory.transfers.shipping import IN_TRANSIT


@dataclass(frozen=True)
class ReceiveItem:
    """A line named by its id or by its product; `quantity` units arrived now."""

    quantity: int
    line_id: int | None = None
    product: Ref | None = None
    close_short: bool = False
    discrepancy_reason: str | None = None


@dataclass(frozen=True)
class ReceiveTransfer:
    id: int
    items: tuple[ReceiveItem, ...]
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class _Receipt:
    line: TransferLine
    received: int
    closed: int
    reason: str | None


_UPDATE_LINES = text(
    """
    UPDATE transfer_order_lines l SET received_quantity = l.received_quantity + u.received,
        closed_quantity = l.closed_quantity + u.closed
    FROM unnest(CAST(:ids AS bigint[]), CAST(:received AS int[]), CAST(:closed AS int[]))
        AS u(id, received, closed)
    WHERE l.id = u.id
    """
)
_DISCREPANCIES = text(
    """
    INSERT INTO transfer_discrepancies (transfer_order_id, line_id, product_id, warehouse_id,
        shipped, received, reason, actor)
    SELECT :order_id, d.line_id, d.product_id, :warehouse_id, d.shipped, d.received, d.reason,
        :actor
    FROM unnest(CAST(:line_id AS bigint[]), CAST(:product_id AS bigint[]),
        CAST(:shipped AS int[]), CAST(:received AS int[]), CAST(:reason AS text[]))
        WITH ORDINALITY AS d(line_id, product_id, shipped, received, reason, ord)
    ORDER BY d.ord
    RETURNING id, line_id, product_id, shipped, received, reason
    """
)


def _validate(request: ReceiveTransfer) -> Collector:
    errors = Collector()
    if not request.items:
        errors.add(ErrorCode.REQUIRED, "give at least one item received", "items")
    elif len(request.items) > MAX_ITEMS:
        errors.invalid("items", f"at most {MAX_ITEMS} items per receipt")
    for i, item in enumerate(request.items):
        prefix = f"items.{i}."
        check.quantity(errors, f"{prefix}quantity", item.quantity, allow_zero=item.close_short)
        reason = check.text(
            errors, f"{prefix}discrepancyReason", item.discrepancy_reason, max_length=MAX_TEXT
        )
        if item.close_short and reason is None:
            errors.add(
                ErrorCode.REQUIRED,
                "closing a line short needs a discrepancyReason",
                f"{prefix}discrepancyReason",
            )
        if reason is not None and not item.close_short:
            errors.invalid(f"{prefix}discrepancyReason", "give a discrepancyReason with closeShort")
        if (item.line_id is None) == (item.product is None):
            errors.add(ErrorCode.REQUIRED, "give lineId, productId or sku", f"{prefix}lineId")
    check.timestamp(errors, "timestamp", request.occurred_at)
    return errors


async def _match(
    conn: AsyncConnection, order: TransferOrder, items: tuple[ReceiveItem, ...]
) -> list[_Receipt]:
    by_product = {line.product_id: line for line in order.lines}
    by_id = {line.id: line for line in order.lines}
    named = [item.product for item in items if item.product is not None]
    product_ids = iter(await resolve_products(conn, named))
    problems: list[Problem] = []
    receipts: list[_Receipt] = []
    taken: set[int] = set()
    for i, item in enumerate(items):
        prefix = f"items.{i}."
        if item.product is not None:
            line = by_product.get(next(product_ids))
            where = item.product.field
        else:
            line = by_id.get(item.line_id or 0)
            where = f"{prefix}lineId"
        if line is None:
            problems.append(Problem(ErrorCode.NOT_FOUND, "this order has no such line", where))
            continue
        if line.id in taken:
            problems.append(Problem(ErrorCode.INVALID, "this line is named twice", where))
            continue
        taken.add(line.id)
        if item.quantity > line.outstanding:
            problems.append(
                Problem(
                    ErrorCode.EXCEEDS_SHIPPED,
                    f"{item.quantity} received but only {line.outstanding} of the"
                    f" {line.shipped_quantity} shipped are still in transit",
                    f"{prefix}quantity",
                    {"available": line.outstanding, "requested": item.quantity},
                )
            )
            continue
        closed = line.outstanding - item.quantity if item.close_short else 0
        reason = item.discrepancy_reason.strip() if item.discrepancy_reason else None
        receipts.append(_Receipt(line, item.quantity, closed, reason))
    if problems:
        raise DomainError(*problems)
    return receipts


async def receive_transfer_order(
    conn: AsyncConnection, request: ReceiveTransfer, context: ChangeContext
) -> TransferOrder:
    errors = _validate(request)
    claim = claim_for("receiveTransferOrder", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return TransferOrder.from_json(replay)
    order = await lock_order(conn, request.id, IN_TRANSIT, "received")
    receipts = await _match(conn, order, request.items)
    target = order.to_warehouse_id
    movements: list[Movement] = []
    for r in receipts:
        common = {
            "reference_id": order.number,
            "metadata": {"transferOrderId": order.id, "fromWarehouseId": order.from_warehouse_id},
        }
        if r.received:
            movements.append(
                Movement(
                    r.line.product_id,
                    target,
                    MovementType.TRANSFER_IN,
                    Quantities(on_hand=r.received, incoming=-r.received),
                    reason="transfer order received",
                    **common,  # type: ignore[arg-type]  # the keyword arguments Movement takes
                )
            )
        if r.closed:
            movements.append(
                Movement(
                    r.line.product_id,
                    target,
                    MovementType.TRANSFER_SHORT,
                    Quantities(incoming=-r.closed),
                    reason=r.reason,
                    **common,  # type: ignore[arg-type]  # the keyword arguments Movement takes
                )
            )
    change = ChangeContext(
        actor=context.actor,
        source=context.source,
        occurred_at=request.occurred_at or context.occurred_at,
        correlation_id=context.correlation_id,
    )
    await apply_change(conn, movements, change)
    await conn.execute(
        _UPDATE_LINES,
        {
            "ids": [r.line.id for r in receipts],
            "received": [r.received for r in receipts],
            "closed": [r.closed for r in receipts],
        },
    )
    await _record_discrepancies(conn, order, receipts, context.actor)
    after = await reload(conn, order.id)
    done = all(line.outstanding == 0 for line in after.lines)
    status = TransferStatus.COMPLETED if done else TransferStatus.PARTIALLY_RECEIVED
    await set_status(conn, order.id, status)
    after = await reload(conn, order.id)
    await announce(conn, after, "COMPLETED" if done else "RECEIVED", context.actor)
    await remember(conn, claim, after.to_json())
    return after


async def _record_discrepancies(
    conn: AsyncConnection, order: TransferOrder, receipts: list[_Receipt], actor: str
) -> None:
    """A line closed with fewer units received than shipped: a discrepancy to investigate."""
    short = [r for r in receipts if r.closed > 0]
    if not short:
        return
    rows = await conn.execute(
        _DISCREPANCIES,
        {
            "order_id": order.id,
            "warehouse_id": order.to_warehouse_id,
            "actor": actor,
            "line_id": [r.line.id for r in short],
            "product_id": [r.line.product_id for r in short],
            "shipped": [r.line.shipped_quantity for r in short],
            "received": [r.line.received_quantity + r.received for r in short],
            "reason": [r.reason for r in short],
        },
    )
    await append(
        conn,
        [
            Event(
                Topic.TRANSFER_DISCREPANCY,
                {
                    "transferOrderId": order.id,
                    "number": order.number,
                    "discrepancyId": row.id,
                    "productId": row.product_id,
                    "warehouseId": order.to_warehouse_id,
                    "fromWarehouseId": order.from_warehouse_id,
                    "shipped": row.shipped,
                    "received": row.received,
                    "reason": row.reason,
                    "actor": actor,
                },
                product_id=row.product_id,
                warehouse_id=order.to_warehouse_id,
            )
            for row in rows
        ],
    )
