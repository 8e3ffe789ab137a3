"""GraphQL types of reconciliation runs and cycle counts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.events.scalars import Long
from onhand.api.events.types import StreamEvent, register
from onhand.api.inventory.types import InventoryLevel, InventoryMovement, MovementType
from onhand.api.pagination import Connection, paginate
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.core.pagination import Listing
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.inventory.counts import cycle_counts as counts
from onhand.inventory.counts import reconciliation, repairs

ReconciliationTriggerEnum = strawberry.enum(reconciliation.Trigger, name="ReconciliationTrigger")
RepairModeEnum = strawberry.enum(
    repairs.RepairMode,
    name="ReconciliationRepairMode",
    description="DRY_RUN: the repairs were worked out and shown, nothing written. APPLIED: "
    "they were written through the ledger.",
)
RepairKindEnum = strawberry.enum(
    repairs.RepairKind,
    name="ReconciliationRepairKind",
    description="RECORD_OUTSIDE_CHANGE: the level was changed outside the ledger; the ledger "
    "records that change (a RECONCILIATION row) and the level keeps its value. "
    "REBUILD_FROM_RESERVATIONS: reserved or committed is set to what the active reservations "
    "and orders hold, by a RECONCILIATION movement.",
)
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
    status: str = strawberry.field(
        description="OPEN, SUPERSEDED by a later run, or REPAIRED by its run."
    )
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


@strawberry.type(
    description="What a repairing reconciliation did, or (a dry run) would do, about one "
    "wrong bucket of a level: the RECONCILIATION ledger movement it writes."
)
class ReconciliationRepair:
    id: strawberry.ID = strawberry.field(description="The repair's global id.")
    run_id: strawberry.ID = strawberry.field(description="The run that worked it out.")
    kind: RepairKindEnum = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        description="What was found and how it is put right."
    )
    bucket: str = strawberry.field(description="on_hand, reserved, committed, ... as found.")
    recorded: int = strawberry.field(description="The value on the level when checked.")
    expected: int = strawberry.field(
        description="What explains it: the ledger's sum, or what the reservations hold."
    )
    delta: int = strawberry.field(
        description="The movement's delta in this bucket: the unrecorded change "
        "(RECORD_OUTSIDE_CHANGE) or expected - recorded (REBUILD_FROM_RESERVATIONS)."
    )
    movement_type: MovementType = strawberry.field(
        description="The ledger movement's type: RECONCILIATION."
    )
    reason: str = strawberry.field(description="What was found, as the movement records it.")
    applied: bool = strawberry.field(description="Written (false: a dry run's).")
    level_id: strawberry.Private[int]
    product_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int]
    movement_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Any) -> ReconciliationRepair:
        r = repairs.Repair.from_row(row)
        assert r.id is not None
        return cls(
            id=strawberry.ID(ids.encode("ReconciliationRepair", r.id)),
            run_id=strawberry.ID(ids.encode("ReconciliationRun", r.run_id)),
            kind=r.kind,
            bucket=r.bucket,
            recorded=r.recorded,
            expected=r.expected,
            delta=r.delta,
            movement_type=MovementType.RECONCILIATION,
            reason=r.reason,
            applied=r.applied,
            level_id=r.level_id,
            product_id=r.product_id,
            warehouse_id=r.warehouse_id,
            movement_id=r.movement_id,
        )

    @strawberry.field(description="The level repaired.")
    async def inventory_level(self, info: Info) -> InventoryLevel | None:
        level = await info.context.loaders.level.load(self.level_id)
        return InventoryLevel.from_record(level) if level else None

    @strawberry.field(description="The level's product.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field(description="The level's warehouse.")
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)

    @strawberry.field(description="The ledger row written (null: a dry run's repair).")
    async def movement(self, info: Info) -> InventoryMovement | None:
        return await InventoryMovement.load(info, self.movement_id)


ReconciliationRepairConnection = Connection[ReconciliationRepair]


@strawberry.type(description="One reconciliation: what was checked and what disagreed.")
class ReconciliationRun:
    id: strawberry.ID
    trigger: ReconciliationTriggerEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    actor: str
    levels_checked: int
    discrepancy_count: int
    started_at: datetime
    finished_at: datetime
    repair: RepairModeEnum | None = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        description="Whether the run repaired (APPLIED) or showed its repairs (DRY_RUN); "
        "null: it only checked."
    )
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
            repair=run.repair,
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

    @strawberry.field(
        description="The repairs the run wrote (or, a dry run, would write), level by level."
    )
    async def repairs(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The cursor to continue after.")
        ] = None,
    ) -> ReconciliationRepairConnection:
        listing = repairs.repair_listing(self.run_id)
        return await paginate(
            info,
            listing,
            ReconciliationRepair.from_row,
            first,
            after,
            ReconciliationRepairConnection,
        )


@strawberry.type(description="A physical count of one product, compared with onHand.")
class CycleCountLine:
    id: strawberry.ID
    cycle_count_id: strawberry.ID
    counted_quantity: int
    system_quantity: int = strawberry.field(
        description="onHand when counted (as of the count's countedAt, when it gave one)."
    )
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
    counted_at: datetime | None = strawberry.field(
        description="When the stock was counted, as given; null: when recorded. Each line's "
        "systemQuantity is onHand as of then."
    )
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
            counted_at=count.counted_at,
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


@strawberry.type(description="A repair of one level's buckets, as a repair change's reason says.")
class RepairedBucket:
    kind: RepairKindEnum = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        description="What was found and how it was put right."
    )
    bucket: str = strawberry.field(description="on_hand, reserved, committed, ...")
    recorded: int = strawberry.field(description="The level's value when checked.")
    expected: int = strawberry.field(description="What explains it.")
    delta: int = strawberry.field(description="The ledger delta written.")
    reason: str = strawberry.field(description="What was found.")


@strawberry.type(description="A reconciliation run repaired a level (RECONCILIATION_REPAIRED).")
class ReconciliationRepaired(StreamEvent):
    run_id: Long = strawberry.field(description="The run (a number, as in runId payloads).")
    level_id: strawberry.ID = strawberry.field(description="The level repaired.")
    product_id: strawberry.ID = strawberry.field(description="Its product.")
    warehouse_id: strawberry.ID = strawberry.field(description="Its warehouse.")
    movement_ids: list[strawberry.ID] = strawberry.field(
        description="The RECONCILIATION ledger rows written."
    )
    repairs: list[RepairedBucket] = strawberry.field(description="Bucket by bucket.")

    @classmethod
    def from_event(cls, event: Published) -> ReconciliationRepaired:
        p = event.payload
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            run_id=Long(p["runId"]),
            level_id=strawberry.ID(ids.encode("InventoryLevel", p["levelId"])),
            product_id=strawberry.ID(ids.encode("Product", p["productId"])),
            warehouse_id=strawberry.ID(ids.encode("Warehouse", p["warehouseId"])),
            movement_ids=[
                strawberry.ID(ids.encode("InventoryMovement", m)) for m in p["movementIds"]
            ],
            repairs=[
                RepairedBucket(
                    kind=repairs.RepairKind(r["kind"]),
                    bucket=r["bucket"],
                    recorded=r["recorded"],
                    expected=r["expected"],
                    delta=r["delta"],
                    reason=r["reason"],
                )
                for r in p["repairs"]
            ],
        )


register(Topic.RECONCILIATION_REPAIRED, ReconciliationRepaired)
