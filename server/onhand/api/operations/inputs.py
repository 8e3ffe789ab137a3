"""Inputs of transfer orders, reconciliation and cycle counts, and their reading into the
domain's requests."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onhand.api import ids
from onhand.api.inputs import warehouse_ref
from onhand.core.errors import DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.inventory.counts.cycle_counts import Counted, RecordCount
from onhand.inventory.transfers.creating import CreateTransfer, TransferItem
from onhand.inventory.transfers.receiving import ReceiveItem, ReceiveTransfer
from onhand.inventory.transfers.shipping import CancelTransfer, ShipTransfer

IDEMPOTENCY_KEY = strawberry.field(
    default=None,
    description="Send the same key to retry safely: a replay returns the first result.",
)


def product_ref(product_id: str | None, sku: str | None, prefix: str) -> Ref:
    """A product named by global id or SKU (exactly one), for a line of a list input."""
    if (product_id is None) == (sku is None):
        raise DomainError.of(
            ErrorCode.REQUIRED, "give either productId or sku, not both", f"{prefix}productId"
        )
    if product_id is not None:
        field = f"{prefix}productId"
        return Ref(id=ids.decode(product_id, "Product", field), field=field)
    return Ref(key=sku, field=f"{prefix}sku")


@strawberry.input
class TransferOrderItemInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    quantity: int


@strawberry.input(description="A transfer order: its units are reserved at the source now.")
class CreateTransferOrderInput:
    from_warehouse_id: strawberry.ID | None = None
    from_warehouse_code: str | None = None
    to_warehouse_id: strawberry.ID | None = None
    to_warehouse_code: str | None = None
    items: list[TransferOrderItemInput]
    expected_delivery: datetime | None = None
    notes: str | None = None
    idempotency_key: str | None = IDEMPOTENCY_KEY

    def request(self) -> CreateTransfer:
        return CreateTransfer(
            from_warehouse=warehouse_ref(
                self.from_warehouse_id,
                self.from_warehouse_code,
                "fromWarehouseId",
                "fromWarehouseCode",
            ),
            to_warehouse=warehouse_ref(
                self.to_warehouse_id, self.to_warehouse_code, "toWarehouseId", "toWarehouseCode"
            ),
            items=tuple(
                TransferItem(product_ref(item.product_id, item.sku, f"items.{i}."), item.quantity)
                for i, item in enumerate(self.items)
            ),
            expected_delivery=self.expected_delivery,
            notes=self.notes,
            idempotency_key=self.idempotency_key,
        )


def order_id(value: str) -> int:
    return ids.decode(value, "TransferOrder", "id")


@strawberry.input(description="Ship a PENDING order: every line, in full.")
class ShipTransferOrderInput:
    id: strawberry.ID
    tracking_number: str | None = None
    timestamp: datetime | None = strawberry.field(
        default=None, description="When it shipped (defaults to now)."
    )
    idempotency_key: str | None = IDEMPOTENCY_KEY

    def request(self) -> ShipTransfer:
        return ShipTransfer(
            order_id(self.id), self.tracking_number, self.timestamp, self.idempotency_key
        )


@strawberry.input(description="Units of one line that arrived (by lineId, productId or sku).")
class ReceiveTransferOrderItemInput:
    line_id: strawberry.ID | None = None
    product_id: strawberry.ID | None = None
    sku: str | None = None
    quantity: int
    close_short: bool = strawberry.field(
        default=False,
        description="Nothing more will arrive: write the rest off (a discrepancy is recorded "
        "when fewer units arrived than shipped). Needs discrepancyReason.",
    )
    discrepancy_reason: str | None = None

    def item(self, i: int) -> ReceiveItem:
        prefix = f"items.{i}."
        line_id = None
        product = None
        if self.line_id is not None:
            line_id = ids.decode(self.line_id, "TransferOrderLine", f"{prefix}lineId")
        if self.product_id is not None or self.sku is not None:
            product = product_ref(self.product_id, self.sku, prefix)
        return ReceiveItem(
            self.quantity, line_id, product, self.close_short, self.discrepancy_reason
        )


@strawberry.input(description="Receive shipped units, in as many parts as they arrive.")
class ReceiveTransferOrderInput:
    id: strawberry.ID
    items: list[ReceiveTransferOrderItemInput]
    timestamp: datetime | None = strawberry.field(
        default=None, description="When it arrived (defaults to now)."
    )
    idempotency_key: str | None = IDEMPOTENCY_KEY

    def request(self) -> ReceiveTransfer:
        return ReceiveTransfer(
            order_id(self.id),
            tuple(item.item(i) for i, item in enumerate(self.items)),
            self.timestamp,
            self.idempotency_key,
        )


@strawberry.input(description="Cancel a PENDING or in-transit order.")
class CancelTransferOrderInput:
    id: strawberry.ID
    reason: str | None = None

    def request(self) -> CancelTransfer:
        return CancelTransfer(order_id(self.id), self.reason)


@strawberry.input(description="Check every level (of one warehouse, or all) and report.")
class ReconcileInventoryInput:
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None

    def warehouse(self) -> Ref | None:
        if self.warehouse_id is None and self.warehouse_code is None:
            return None
        return warehouse_ref(self.warehouse_id, self.warehouse_code)


@strawberry.input
class CycleCountItemInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    counted_quantity: int


@strawberry.input(description="Physical counts at one warehouse, compared with onHand.")
class RecordCycleCountInput:
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    counts: list[CycleCountItemInput]
    reference_id: str | None = None
    idempotency_key: str | None = IDEMPOTENCY_KEY

    def request(self) -> RecordCount:
        return RecordCount(
            warehouse_ref(self.warehouse_id, self.warehouse_code),
            tuple(
                Counted(product_ref(c.product_id, c.sku, f"counts.{i}."), c.counted_quantity)
                for i, c in enumerate(self.counts)
            ),
            self.reference_id,
            self.idempotency_key,
        )


def line_id(value: str) -> int:
    return ids.decode(value, "CycleCountLine", "id")


@strawberry.input(description="Apply a count line waiting for review (its count-time difference).")
class ApproveCycleCountLineInput:
    id: strawberry.ID
    note: str | None = None


@strawberry.input(description="Refuse a count line waiting for review: no stock changes.")
class RejectCycleCountLineInput:
    id: strawberry.ID
    note: str | None = None


@strawberry.input(description="Close the investigation of a transfer discrepancy.")
class ResolveTransferDiscrepancyInput:
    id: strawberry.ID
    resolution: str = strawberry.field(description="What was found (carrier claim filed, ...).")

    def discrepancy_id(self) -> int:
        return ids.decode(self.id, "TransferDiscrepancy", "id")
