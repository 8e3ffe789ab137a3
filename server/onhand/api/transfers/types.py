"""GraphQL types of transfer orders and their discrepancies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.pagination import Connection
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.reservations.types import Reservation, load_reservation
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.inventory.transfers import orders as transfers

TransferOrderStatusEnum = strawberry.enum(
    transfers.TransferStatus,
    name="TransferOrderStatus",
    description="PENDING (held at the source) -> IN_TRANSIT -> PARTIALLY_RECEIVED -> "
    "COMPLETED; PENDING and in-transit orders may be CANCELLED.",
)
DiscrepancyStatusEnum = strawberry.enum(
    transfers.DiscrepancyStatus, name="TransferDiscrepancyStatus"
)


@strawberry.type(description="A line of a transfer order: one product.")
class TransferOrderLine:
    id: strawberry.ID = strawberry.field(description="Accepted as lineId by receipts.")
    quantity: int = strawberry.field(description="Units ordered.")
    shipped_quantity: int
    received_quantity: int
    closed_quantity: int = strawberry.field(description="Closed short: shipped, never arrived.")
    returned_quantity: int = strawberry.field(description="Sent back when cancelled in transit.")
    outstanding_quantity: int = strawberry.field(description="Shipped and still in transit.")
    product_id: strawberry.Private[int]
    reservation_id: strawberry.Private[int | None]

    @classmethod
    def from_record(cls, line: transfers.TransferLine) -> TransferOrderLine:
        return cls(
            id=strawberry.ID(ids.encode("TransferOrderLine", line.id)),
            quantity=line.quantity,
            shipped_quantity=line.shipped_quantity,
            received_quantity=line.received_quantity,
            closed_quantity=line.closed_quantity,
            returned_quantity=line.returned_quantity,
            outstanding_quantity=line.outstanding,
            product_id=line.product_id,
            reservation_id=line.reservation_id,
        )

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field(description="The TRANSFER reservation that held the units at the source.")
    async def reservation(self, info: Info) -> Reservation | None:
        if self.reservation_id is None:
            return None
        record = await load_reservation(info, self.reservation_id)
        return Reservation.from_record(record) if record else None


@strawberry.type(description="Fewer units received than shipped on a line closed short.")
class TransferDiscrepancy:
    id: strawberry.ID
    transfer_order_id: strawberry.ID
    shipped: int
    received: int
    difference: int = strawberry.field(description="received - shipped (negative: missing).")
    reason: str
    status: DiscrepancyStatusEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    actor: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    product_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> TransferDiscrepancy:
        return cls(
            id=strawberry.ID(ids.encode("TransferDiscrepancy", row["id"])),
            transfer_order_id=strawberry.ID(ids.encode("TransferOrder", row["transfer_order_id"])),
            shipped=row["shipped"],
            received=row["received"],
            difference=row["received"] - row["shipped"],
            reason=row["reason"],
            status=transfers.DiscrepancyStatus(row["status"]),
            actor=row["actor"],
            created_at=row["created_at"],
            resolved_at=row["resolved_at"],
            resolved_by=row["resolved_by"],
            resolution=row["resolution"],
            product_id=row["product_id"],
            warehouse_id=row["warehouse_id"],
        )

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field(description="The destination warehouse.")
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)


async def load_transfer_order(info: Info, order_id: int) -> transfers.TransferOrder | None:
    loader = info.context.loaders.transfers.by_id
    found: transfers.TransferOrder | None = await loader.load(order_id)
    return found


@strawberry.type(description="Stock sent from one warehouse to another.")
class TransferOrder(relay.Node):
    id: relay.NodeID[int]
    number: str = strawberry.field(description="TO-<n>; the referenceId of its reservations.")
    status: TransferOrderStatusEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    expected_delivery: datetime | None
    tracking_number: str | None
    notes: str | None
    cancel_reason: str | None
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime
    shipped_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    loaded_lines: strawberry.Private[tuple[transfers.TransferLine, ...] | None]
    from_warehouse_id: strawberry.Private[int]
    to_warehouse_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, order: transfers.TransferOrder, with_lines: bool = True) -> TransferOrder:
        return cls(
            id=order.id,
            number=order.number,
            status=order.status,
            expected_delivery=order.expected_delivery,
            tracking_number=order.tracking_number,
            notes=order.notes,
            cancel_reason=order.cancel_reason,
            created_by=order.actor,
            version=order.version,
            created_at=order.created_at,
            updated_at=order.updated_at,
            shipped_at=order.shipped_at,
            completed_at=order.completed_at,
            cancelled_at=order.cancelled_at,
            loaded_lines=order.lines if with_lines else None,
            from_warehouse_id=order.from_warehouse_id,
            to_warehouse_id=order.to_warehouse_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[TransferOrder | None]:
        check(info, Permission.READ_STOCK)
        wanted = ids.node_ids(node_ids, "TransferOrder")
        found = await asyncio.gather(*(load_transfer_order(info, i) for i in wanted))
        return [cls.from_record(r) if r else None for r in found]

    @classmethod
    def from_row(cls, row: Any) -> TransferOrder:
        """From a listing's row: the lines are loaded when asked for, a page at a time."""
        return cls.from_record(transfers.TransferOrder.from_row(row), with_lines=False)

    @strawberry.field
    async def lines(self, info: Info) -> list[TransferOrderLine]:
        lines = self.loaded_lines
        if lines is None:
            loader = info.context.loaders.transfers.lines_of_order
            lines = tuple(await loader.load(self.id) or ())
        return [TransferOrderLine.from_record(line) for line in lines]

    @strawberry.field
    async def from_warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.from_warehouse_id)

    @strawberry.field
    async def to_warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.to_warehouse_id)

    @strawberry.field(description="Lines closed short, to investigate.")
    async def discrepancies(self, info: Info) -> list[TransferDiscrepancy]:
        loader = info.context.loaders.transfers.discrepancies_of_order
        rows = await loader.load(self.id)
        return [TransferDiscrepancy.from_row(row) for row in rows or []]


TransferOrderConnection = Connection[TransferOrder]
TransferDiscrepancyConnection = Connection[TransferDiscrepancy]
