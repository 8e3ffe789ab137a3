"""Transfer orders: stock sent from one warehouse to another over time.

PENDING (units held at the source by TRANSFER reservations, referenceId = the order's
number) -> IN_TRANSIT when shipped (units leave the source's onHand, the reservations are
consumed, and they appear as `incoming` at the destination) -> PARTIALLY_RECEIVED while
receipts come in -> COMPLETED when every shipped unit is received or closed short (written
off, with a discrepancy to investigate). PENDING and in-transit orders may be CANCELLED: the
reservations are released, or what is still in transit goes back to the source.

This module holds the records, the reads and the event; the transitions live in
creating.py, shipping.py and receiving.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.db.operation_tables import transfer_order_lines, transfer_orders
from onhand.events.outbox import Event, Topic, append

MAX_ITEMS = 250
MAX_TEXT = 500


class TransferStatus(StrEnum):
    PENDING = "PENDING"
    IN_TRANSIT = "IN_TRANSIT"
    PARTIALLY_RECEIVED = "PARTIALLY_RECEIVED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class DiscrepancyStatus(StrEnum):
    PENDING_INVESTIGATION = "PENDING_INVESTIGATION"
    RESOLVED = "RESOLVED"


def number_of(order_id: int) -> str:
    """The order's human-facing number, also the referenceId of its reservations."""
    return f"TO-{order_id}"


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _parse(name: str, value: Any) -> Any:
    if value is not None and name.endswith(("_at", "_delivery")):
        return datetime.fromisoformat(value)
    return value


@dataclass(frozen=True, slots=True)
class TransferLine:
    id: int
    transfer_order_id: int
    product_id: int
    quantity: int
    shipped_quantity: int
    received_quantity: int
    closed_quantity: int
    returned_quantity: int
    reservation_id: int | None

    @property
    def outstanding(self) -> int:
        """Shipped units still in transit."""
        return (
            self.shipped_quantity
            - self.received_quantity
            - self.closed_quantity
            - self.returned_quantity
        )

    @classmethod
    def from_row(cls, row: Any) -> TransferLine:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(**{f.name: m[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class TransferOrder:
    id: int
    from_warehouse_id: int
    to_warehouse_id: int
    status: TransferStatus
    expected_delivery: datetime | None
    tracking_number: str | None
    notes: str | None
    cancel_reason: str | None
    actor: str
    version: int
    created_at: datetime
    updated_at: datetime
    shipped_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    lines: tuple[TransferLine, ...] = ()

    @property
    def number(self) -> str:
        return number_of(self.id)

    @classmethod
    def from_row(cls, row: Any, lines: Sequence[TransferLine] = ()) -> TransferOrder:
        m = row._mapping if hasattr(row, "_mapping") else row
        values = {f.name: m[f.name] for f in fields(cls) if f.name != "lines"}
        values["status"] = TransferStatus(values["status"])
        return cls(**values, lines=tuple(lines))

    def to_json(self) -> dict[str, Any]:
        """For idempotency records: a replay answers with the order as the first call left it."""
        data = {f.name: _iso(getattr(self, f.name)) for f in fields(self) if f.name != "lines"}
        data["status"] = str(self.status)
        data["lines"] = [
            {f.name: getattr(line, f.name) for f in fields(line)} for line in self.lines
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransferOrder:
        values = {k: _parse(k, v) for k, v in data.items() if k != "lines"}
        return cls.from_row(values, [TransferLine.from_row(line) for line in data["lines"]])


@dataclass(frozen=True)
class TransferFilter:
    statuses: Sequence[TransferStatus] = ()
    # Either side of the order.
    warehouse_id: int | None = None
    from_warehouse_id: int | None = None
    to_warehouse_id: int | None = None


def transfer_listing(filters: TransferFilter) -> Listing:
    t = transfer_orders.c
    query = select(transfer_orders)
    if filters.statuses:
        query = query.where(t.status.in_([str(s) for s in filters.statuses]))
    if filters.warehouse_id is not None:
        query = query.where(
            or_(
                t.from_warehouse_id == filters.warehouse_id,
                t.to_warehouse_id == filters.warehouse_id,
            )
        )
    if filters.from_warehouse_id is not None:
        query = query.where(t.from_warehouse_id == filters.from_warehouse_id)
    if filters.to_warehouse_id is not None:
        query = query.where(t.to_warehouse_id == filters.to_warehouse_id)
    return Listing(query, t.id, descending=True)


async def lines_by_orders(
    conn: AsyncConnection, order_ids: Sequence[int]
) -> dict[int, list[TransferLine]]:
    rows = await conn.execute(
        select(transfer_order_lines)
        .where(transfer_order_lines.c.transfer_order_id.in_(order_ids))
        .order_by(transfer_order_lines.c.id)
    )
    found: dict[int, list[TransferLine]] = {order_id: [] for order_id in order_ids}
    for row in rows:
        found[row.transfer_order_id].append(TransferLine.from_row(row))
    return found


async def transfer_orders_by_ids(
    conn: AsyncConnection, order_ids: Sequence[int]
) -> dict[int, TransferOrder]:
    rows = (
        await conn.execute(select(transfer_orders).where(transfer_orders.c.id.in_(order_ids)))
    ).all()
    lines = await lines_by_orders(conn, [row.id for row in rows])
    return {row.id: TransferOrder.from_row(row, lines[row.id]) for row in rows}


_LOCK = text("SELECT * FROM transfer_orders WHERE id = :id FOR UPDATE")
_LOCK_LINES = text(
    "SELECT * FROM transfer_order_lines WHERE transfer_order_id = :id ORDER BY id FOR UPDATE"
)


async def lock_order(
    conn: AsyncConnection, order_id: int, allowed: Sequence[TransferStatus], action: str
) -> TransferOrder:
    """The order and its lines, locked for a transition its status must allow."""
    row = (await conn.execute(_LOCK, {"id": order_id})).first()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"no transfer order {order_id}", "id")
    lines = [TransferLine.from_row(r) for r in await conn.execute(_LOCK_LINES, {"id": order_id})]
    order = TransferOrder.from_row(row, lines)
    if order.status not in allowed:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"transfer order {order.number} is {order.status}; it cannot be {action}"
            f" (only {', '.join(allowed)} orders can)",
            "id",
            status=str(order.status),
        )
    return order


_SET_STATUS = text(
    """
    UPDATE transfer_orders SET status = :status, version = version + 1, updated_at = now(),
        tracking_number = coalesce(CAST(:tracking AS text), tracking_number),
        cancel_reason = coalesce(CAST(:cancel_reason AS text), cancel_reason),
        shipped_at = CASE WHEN :status = 'IN_TRANSIT' THEN now() ELSE shipped_at END,
        completed_at = CASE WHEN :status = 'COMPLETED' THEN now() ELSE completed_at END,
        cancelled_at = CASE WHEN :status = 'CANCELLED' THEN now() ELSE cancelled_at END
    WHERE id = :id
    """
)


async def set_status(
    conn: AsyncConnection,
    order_id: int,
    status: TransferStatus,
    *,
    tracking: str | None = None,
    cancel_reason: str | None = None,
) -> None:
    await conn.execute(
        _SET_STATUS,
        {
            "id": order_id,
            "status": str(status),
            "tracking": tracking,
            "cancel_reason": cancel_reason,
        },
    )


async def reload(conn: AsyncConnection, order_id: int) -> TransferOrder:
    return (await transfer_orders_by_ids(conn, [order_id]))[order_id]


async def announce(conn: AsyncConnection, order: TransferOrder, kind: str, actor: str) -> None:
    """The TRANSFER_ORDER_CHANGED event of a transition (kind: CREATED, SHIPPED, RECEIVED,
    COMPLETED, CANCELLED)."""
    payload = {
        "kind": kind,
        "transferOrderId": order.id,
        "number": order.number,
        "status": str(order.status),
        "fromWarehouseId": order.from_warehouse_id,
        "toWarehouseId": order.to_warehouse_id,
        "trackingNumber": order.tracking_number,
        "version": order.version,
        "actor": actor,
        "lines": [
            {
                "productId": line.product_id,
                "quantity": line.quantity,
                "shipped": line.shipped_quantity,
                "received": line.received_quantity,
                "closed": line.closed_quantity,
                "returned": line.returned_quantity,
            }
            for line in order.lines
        ],
    }
    await append(
        conn,
        [Event(Topic.TRANSFER_ORDER_CHANGED, payload, warehouse_id=order.from_warehouse_id)],
    )
