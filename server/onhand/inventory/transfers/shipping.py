"""shipTransferOrder and cancelTransferOrder.

Shipping consumes each line's TRANSFER reservation (FULFILLED) and moves its units in one
change: TRANSFER_OUT at the source (onHand and reserved down together, so `available` does
not move) and IN_TRANSIT at the destination (incoming up). A reservation that expired or was
released before shipping holds nothing any more: its line then takes the units from what is
available at the source, judged by the ledger like any other sale.

Cancelling a PENDING order releases its reservations; cancelling an order in transit sends
what is still on the way back: TRANSFER_RETURN at the destination (incoming down) and at the
source (onHand up).

Locks: the order row, its lines, the reservations (id order), then the levels (the ledger, id
order), the order every reservation path keeps after its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.ledger import ChangeContext, Movement, MovementType, Quantities, apply_change
from onhand.inventory.reservations.endings import LOCK_IDS, end, held_by
from onhand.inventory.reservations.model import ChangeKind, ReservationStatus, event_insert
from onhand.inventory.transfers.orders import (
    MAX_TEXT,
    TransferOrder,
    TransferStatus,
    announce,
    lock_order,
    reload,
    set_status,
)

IN_TRANSIT = (TransferStatus.IN_TRANSIT, TransferStatus.PARTIALLY_RECEIVED)


@dataclass(frozen=True)
class ShipTransfer:
    id: int
    tracking_number: str | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CancelTransfer:
    id: int
    reason: str | None = None


# The reservations a shipment consumes, wholly, as the order ships.
_CONSUME = text(
    f"""
    WITH changed AS (
        UPDATE reservations r SET fulfilled_quantity = r.quantity, status = 'FULFILLED',
            ended_at = now(), updated_at = now(), version = r.version + 1
        WHERE r.id = ANY(CAST(:ids AS bigint[]))
        RETURNING r.*
    ),
    events AS ({event_insert("r", ChangeKind.FULFILLED, "changed")})
    SELECT count(*) FROM changed
    """
)
_SHIP_LINES = text(
    "UPDATE transfer_order_lines SET shipped_quantity = quantity WHERE transfer_order_id = :id"
)
_RETURN_LINES = text(
    """
    UPDATE transfer_order_lines SET returned_quantity = returned_quantity
        + (shipped_quantity - received_quantity - closed_quantity - returned_quantity)
    WHERE transfer_order_id = :id
    """
)


def _context(context: ChangeContext, occurred_at: datetime | None = None) -> ChangeContext:
    # The destination may not stock the product yet: its level is created at zero.
    return ChangeContext(
        actor=context.actor,
        source=context.source,
        occurred_at=occurred_at or context.occurred_at,
        correlation_id=context.correlation_id,
        create_missing_levels=True,
    )


async def ship_transfer_order(
    conn: AsyncConnection, request: ShipTransfer, context: ChangeContext
) -> TransferOrder:
    errors = Collector()
    tracking = check.text(errors, "trackingNumber", request.tracking_number, max_length=200)
    occurred_at = check.timestamp(errors, "timestamp", request.occurred_at)
    claim = claim_for("shipTransferOrder", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return TransferOrder.from_json(replay)
    order = await lock_order(conn, request.id, (TransferStatus.PENDING,), "shipped")
    held_ids = [line.reservation_id for line in order.lines if line.reservation_id is not None]
    reservations = {row.id: row for row in await conn.execute(LOCK_IDS, {"ids": held_ids})}
    consumed: list[int] = []
    movements: list[Movement] = []
    number = order.number
    for i, line in enumerate(order.lines):
        held = reservations.get(line.reservation_id or 0)
        active = held is not None and held.status == ReservationStatus.ACTIVE
        if held is not None and active:
            consumed.append(held.id)
        # What an active reservation still holds moves from reserved out of the building;
        # the rest (all of it without one) must still be available.
        holding = min(held_by(held), line.quantity) if active else 0
        out = Quantities(on_hand=-line.quantity, reserved=-holding)
        movements.append(
            Movement(
                line.product_id,
                order.from_warehouse_id,
                MovementType.TRANSFER_OUT,
                out,
                reason="transfer order shipped",
                reference_id=number,
                reservation_id=held.id if held is not None and active else None,
                metadata={"transferOrderId": order.id, "toWarehouseId": order.to_warehouse_id},
                field=f"lines.{i}.quantity",
            )
        )
        movements.append(
            Movement(
                line.product_id,
                order.to_warehouse_id,
                MovementType.IN_TRANSIT,
                Quantities(incoming=line.quantity),
                reason="transfer order shipped",
                reference_id=number,
                metadata={"transferOrderId": order.id, "fromWarehouseId": order.from_warehouse_id},
            )
        )
    if consumed:
        await conn.execute(_CONSUME, {"ids": consumed, "actor": context.actor})
    await apply_change(conn, movements, _context(context, occurred_at))
    await conn.execute(_SHIP_LINES, {"id": order.id})
    await set_status(conn, order.id, TransferStatus.IN_TRANSIT, tracking=tracking)
    shipped = await reload(conn, order.id)
    await announce(conn, shipped, "SHIPPED", context.actor)
    await remember(conn, claim, shipped.to_json())
    return shipped


async def cancel_transfer_order(
    conn: AsyncConnection, request: CancelTransfer, context: ChangeContext
) -> TransferOrder:
    errors = Collector()
    reason = check.text(errors, "reason", request.reason, max_length=MAX_TEXT)
    errors.raise_if_any()
    order = await lock_order(conn, request.id, (TransferStatus.PENDING, *IN_TRANSIT), "cancelled")
    why = reason or "transfer order cancelled"
    if order.status == TransferStatus.PENDING:
        held_ids = [line.reservation_id for line in order.lines if line.reservation_id]
        rows = [
            row
            for row in await conn.execute(LOCK_IDS, {"ids": held_ids})
            if row.status == ReservationStatus.ACTIVE
        ]
        if rows:
            await end(conn, rows, ChangeKind.RELEASED, context, reason=why)
    else:
        movements: list[Movement] = []
        for line in order.lines:
            if line.outstanding <= 0:
                continue
            common = {
                "reason": why,
                "reference_id": order.number,
                "metadata": {"transferOrderId": order.id},
            }
            movements.append(
                Movement(
                    line.product_id,
                    order.to_warehouse_id,
                    MovementType.TRANSFER_RETURN,
                    Quantities(incoming=-line.outstanding),
                    **common,  # type: ignore[arg-type]  # the keyword arguments Movement takes
                )
            )
            movements.append(
                Movement(
                    line.product_id,
                    order.from_warehouse_id,
                    MovementType.TRANSFER_RETURN,
                    Quantities(on_hand=line.outstanding),
                    **common,  # type: ignore[arg-type]  # the keyword arguments Movement takes
                )
            )
        await apply_change(conn, movements, _context(context))
        await conn.execute(_RETURN_LINES, {"id": order.id})
    await set_status(conn, order.id, TransferStatus.CANCELLED, cancel_reason=reason)
    cancelled = await reload(conn, order.id)
    await announce(conn, cancelled, "CANCELLED", context.actor)
    return cancelled
