"""Inputs of reconciliation and cycle counts, and their reading into the domain's requests."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onhand.api import ids
from onhand.api.inputs import IDEMPOTENCY_KEY, product_ref, warehouse_ref
from onhand.core.errors import DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.inventory.counts.cycle_counts import Counted, RecordCount
from onhand.inventory.counts.repairs import RepairMode


@strawberry.input(
    description="Check every level (of one warehouse or all, of one product or all) and "
    "report; with repair, put right what was found (a dry run unless dryRun is false)."
)
class ReconcileInventoryInput:
    warehouse_id: strawberry.ID | None = strawberry.field(
        default=None, description="The warehouse to check; left out (and its code): all."
    )
    warehouse_code: str | None = strawberry.field(
        default=None, description="The warehouse to check, by code."
    )
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this product's levels (or give its sku)."
    )
    sku: str | None = strawberry.field(default=None, description="Only this SKU's levels.")
    repair: bool = strawberry.field(
        default=False,
        description="Work out the repairs of what is found: reserved and committed rebuilt "
        "from the live reservations and orders, changes made outside the ledger recorded in "
        "it; each a RECONCILIATION movement whose reason says what was found (the run's "
        "`repairs`).",
    )
    dry_run: bool = strawberry.field(
        default=True,
        description="With repair: only show the movements it would write (the default); "
        "false writes them, all or none.",
    )

    def warehouse(self) -> Ref | None:
        if self.warehouse_id is None and self.warehouse_code is None:
            return None
        return warehouse_ref(self.warehouse_id, self.warehouse_code)

    def product(self) -> Ref | None:
        if self.product_id is None and self.sku is None:
            return None
        return product_ref(self.product_id, self.sku)

    def repair_mode(self) -> RepairMode | None:
        if not self.repair:
            if not self.dry_run:
                raise DomainError.of(
                    ErrorCode.INVALID, "dryRun: false writes repairs: give repair: true", "dryRun"
                )
            return None
        return RepairMode.DRY_RUN if self.dry_run else RepairMode.APPLIED


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
    counted_at: datetime | None = strawberry.field(
        default=None,
        description="When the stock was counted (not in the future). Each difference is "
        "taken against onHand as of then, so sales and receipts recorded since are kept; "
        "left out: now.",
    )

    def request(self) -> RecordCount:
        return RecordCount(
            warehouse_ref(self.warehouse_id, self.warehouse_code),
            tuple(
                Counted(product_ref(c.product_id, c.sku, prefix=f"counts.{i}."), c.counted_quantity)
                for i, c in enumerate(self.counts)
            ),
            self.reference_id,
            self.idempotency_key,
            self.counted_at,
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
