"""Inputs of transfer orders and their discrepancies, and their reading into the domain's
requests."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onhand.api import ids
from onhand.api.inputs import IDEMPOTENCY_KEY, product_ref, warehouse_ref
from onhand.inventory.transfers.creating import CreateTransfer, TransferItem
from onhand.inventory.transfers.receiving import ReceiveItem, ReceiveTransfer
from onhand.inventory.transfers.shipping import CancelTransfer, ShipTransfer


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
                TransferItem(
                    product_ref(item.product_id, item.sku, prefix=f"items.{i}."), item.quantity
                )
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
            product = product_ref(self.product_id, self.sku, prefix=prefix)
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


@strawberry.input(description="Close the investigation of a transfer discrepancy.")
class ResolveTransferDiscrepancyInput:
    id: strawberry.ID
    resolution: str = strawberry.field(description="What was found (carrier claim filed, ...).")

    def discrepancy_id(self) -> int:
        return ids.decode(self.id, "TransferDiscrepancy", "id")
