"""Inputs of reconciliation and cycle counts, and their reading into the domain's requests."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.inputs import IDEMPOTENCY_KEY, product_ref, warehouse_ref
from onhand.core.refs import Ref
from onhand.inventory.counts.cycle_counts import Counted, RecordCount


@strawberry.input(
    description="Check every level (of one warehouse or all, of one product or all) and report."
)
class ReconcileInventoryInput:
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this product's levels (or give its sku)."
    )
    sku: str | None = strawberry.field(default=None, description="Only this SKU's levels.")

    def warehouse(self) -> Ref | None:
        if self.warehouse_id is None and self.warehouse_code is None:
            return None
        return warehouse_ref(self.warehouse_id, self.warehouse_code)

    def product(self) -> Ref | None:
        if self.product_id is None and self.sku is None:
            return None
        return product_ref(self.product_id, self.sku)


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
                Counted(product_ref(c.product_id, c.sku, prefix=f"counts.{i}."), c.counted_quantity)
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
