"""GraphQL types of reconciliation runs and cycle counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.inventory.types import InventoryLevel, InventoryMovement
from onhand.api.pagination import Connection, paginate
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.core.pagination import Listing
from onhand.inventory.counts import cycle_counts as counts
from onhand.inventory.counts import reconciliation

ReconciliationTriggerEnum = strawberry.enum(reconciliation.Trigger, name="ReconciliationTrigger")
CycleCountLineStatusEnum = strawberry.enum(
    counts.LineStatus,
    name="CycleCountLineStatus",
    description="MATCHED: no difference. APPLIED: within the threshold, applied at once. "
    "PENDING_REVIEW: beyond it, waiting for approval. APPROVED / REJECTED: reviewed.",
)


@strawberry.type(description="A level's bucket that disagrees with what should explain it.")
class ReconciliationDiscrepancy:
    id: strawberry.ID
    run_id: strawberry.ID
    bucket: str = strawberry.field(
        description="on_hand, reserved, committed, incoming, damaged, quarantined, safety_stock."
    )
    basis: str = strawberry.field(
        description="LEDGER: the sum of the ledger's deltas. RESERVATIONS: the sum of the "
        "active reservations."
    )
    recorded: int = strawberry.field(description="The value on the level.")
    expected: int
    difference: int = strawberry.field(description="recorded - expected.")
    status: str = strawberry.field(description="OPEN, or SUPERSEDED by a later run.")
    created_at: datetime
    level_id: strawberry.Private[int]
    product_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> ReconciliationDiscrepancy:
        return cls(
            id=strawberry.ID(ids.encode("ReconciliationDiscrepancy", row["id"])),
            run_id=strawberry.ID(ids.encode("ReconciliationRun", row["run_id"])),
            bucket=row["bucket"],
            basis=row["basis"],
            recorded=row["recorded"],
            expected=row["expected"],
            difference=row["recorded"] - row["expected"],
            status=row["status"],
            created_at=row["created_at"],
            level_id=row["level_id"],
            product_id=row["product_id"],
            warehouse_id=row["warehouse_id"],
        )

    @strawberry.field
    async def inventory_level(self, info: Info) -> InventoryLevel | None:
        level = await info.context.loaders.level.load(self.level_id)
        return InventoryLevel.from_record(level) if level else None

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)


ReconciliationDiscrepancyConnection = Connection[ReconciliationDiscrepancy]


@strawberry.type(description="One reconciliation: what was checked and what disagreed.")
class ReconciliationRun:
    id: strawberry.ID
    trigger: ReconciliationTriggerEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    actor: str
    levels_checked: int
    discrepancy_count: int
    started_at: datetime
    finished_at: datetime
    run_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int | None]
    product_id: strawberry.Private[int | None]

    @classmethod
    def from_record(cls, run: reconciliation.Run) -> ReconciliationRun:
        return cls(
            id=strawberry.ID(ids.encode("ReconciliationRun", run.id)),
            trigger=run.trigger,
            actor=run.actor,
            levels_checked=run.levels_checked,
            discrepancy_count=run.discrepancy_count,
            started_at=run.started_at,
            finished_at=run.finished_at,
            run_id=run.id,
            warehouse_id=run.warehouse_id,
            product_id=run.product_id,
        )

    @strawberry.field(description="The warehouse checked; null: every warehouse.")
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)

    @strawberry.field(description="The product checked; null: every product.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field
    async def discrepancies(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ReconciliationDiscrepancyConnection:
        listing = reconciliation.discrepancy_listing(run_id=self.run_id)
        return await discrepancy_page(info, listing, first, after)


@strawberry.type(description="A physical count of one product, compared with onHand.")
class CycleCountLine:
    id: strawberry.ID
    cycle_count_id: strawberry.ID
    counted_quantity: int
    system_quantity: int = strawberry.field(description="onHand when counted.")
    difference: int = strawberry.field(description="counted - system.")
    status: CycleCountLineStatusEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    version: int
    created_at: datetime
    product_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int]
    movement_id: strawberry.Private[int | None]

    @classmethod
    def from_record(cls, line: counts.CountLine) -> CycleCountLine:
        return cls(
            id=strawberry.ID(ids.encode("CycleCountLine", line.id)),
            cycle_count_id=strawberry.ID(ids.encode("CycleCount", line.cycle_count_id)),
            counted_quantity=line.counted_quantity,
            system_quantity=line.system_quantity,
            difference=line.difference,
            status=line.status,
            reviewed_by=line.reviewed_by,
            reviewed_at=line.reviewed_at,
            review_note=line.review_note,
            version=line.version,
            created_at=line.created_at,
            product_id=line.product_id,
            warehouse_id=line.warehouse_id,
            movement_id=line.movement_id,
        )

    @classmethod
    def from_row(cls, row: Any) -> CycleCountLine:
        return cls.from_record(counts.CountLine.from_row(row))

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)

    @strawberry.field(description="The CYCLE_COUNT ledger row that applied it.")
    async def movement(self, info: Info) -> InventoryMovement | None:
        return await InventoryMovement.load(info, self.movement_id)


CycleCountLineConnection = Connection[CycleCountLine]


@strawberry.type(description="A cycle count of some products at one warehouse.")
class CycleCount:
    id: strawberry.ID
    threshold: int = strawberry.field(
        description="Differences up to this many units were applied at once."
    )
    reference_id: str | None
    actor: str
    created_at: datetime
    lines: list[CycleCountLine]
    warehouse_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, count: counts.CycleCount) -> CycleCount:
        return cls(
            id=strawberry.ID(ids.encode("CycleCount", count.id)),
            threshold=count.threshold,
            reference_id=count.reference_id,
            actor=count.actor,
            created_at=count.created_at,
            lines=[CycleCountLine.from_record(line) for line in count.lines],
            warehouse_id=count.warehouse_id,
        )

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)


async def discrepancy_page(
    info: Info, listing: Listing, first: int | None, after: str | None
) -> ReconciliationDiscrepancyConnection:
    """A page of reconciliation discrepancies."""
    return await paginate(
        info,
        listing,
        ReconciliationDiscrepancy.from_row,
        first,
        after,
        ReconciliationDiscrepancyConnection,
    )
