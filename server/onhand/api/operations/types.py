"""GraphQL types of transfer orders, reconciliation runs and cycle counts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.inventory.types import InventoryLevel, InventoryMovement
from onhand.api.pagination import Connection, paginate
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.reservations.types import Reservation, load_reservation
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.inventory import cycle_counts as counts
from onhand.inventory import reconciliation
from onhand.inventory import transfer_discrepancies as discrepancies
from onhand.inventory import transfer_orders as transfers

TransferOrderStatusEnum = strawberry.enum(
    transfers.TransferStatus,
    name="TransferOrderStatus",
    description="PENDING (held at the source) -> IN_TRANSIT -> PARTIALLY_RECEIVED -> "
    "COMPLETED; PENDING and in-transit orders may be CANCELLED.",
)
DiscrepancyStatusEnum = strawberry.enum(
    transfers.DiscrepancyStatus, name="TransferDiscrepancyStatus"
)
ReconciliationTriggerEnum = strawberry.enum(reconciliation.Trigger, name="ReconciliationTrigger")
CycleCountLineStatusEnum = strawberry.enum(
    counts.LineStatus,
    name="CycleCountLineStatus",
    description="MATCHED: no difference. APPLIED: within the threshold, applied at once. "
    "PENDING_REVIEW: beyond it, waiting for approval. APPROVED / REJECTED: reviewed.",
)


async def _product(info: Info, product_id: int) -> Product | None:
    record = await info.context.loaders.product.load(product_id)
    return Product.from_record(record) if record else None


async def _warehouse(info: Info, warehouse_id: int | None) -> Warehouse | None:
    if warehouse_id is None:
        return None
    record = await info.context.loaders.warehouse.load(warehouse_id)
    return Warehouse.from_record(record) if record else None


async def _movement(info: Info, movement_id: int | None) -> InventoryMovement | None:
    if movement_id is None:
        return None
    entry = await info.context.loaders.movement.load(movement_id)
    return InventoryMovement.from_record(entry) if entry else None


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
        return await _product(info, self.product_id)

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
    status: DiscrepancyStatusEnum  # type: ignore[valid-type]
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
        return await _product(info, self.product_id)

    @strawberry.field(description="The destination warehouse.")
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await _warehouse(info, self.warehouse_id)


async def load_transfer_order(info: Info, order_id: int) -> transfers.TransferOrder | None:
    loader = info.context.loaders.custom("transfer_order", transfers.transfer_orders_by_ids)
    found: transfers.TransferOrder | None = await loader.load(order_id)
    return found


@strawberry.type(description="Stock sent from one warehouse to another.")
class TransferOrder(relay.Node):
    id: relay.NodeID[int]
    number: str = strawberry.field(description="TO-<n>; the referenceId of its reservations.")
    status: TransferOrderStatusEnum  # type: ignore[valid-type]
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
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[TransferOrder | None]:
        check(info, Permission.READ_STOCK)
        wanted = ids.node_ids(node_ids, "TransferOrder")
        found = [await load_transfer_order(info, order_id) for order_id in wanted]
        return [cls.from_record(r) if r else None for r in found]

    @classmethod
    def from_row(cls, row: Any) -> TransferOrder:
        """From a listing's row: the lines are loaded when asked for, a page at a time."""
        return cls.from_record(transfers.TransferOrder.from_row(row), with_lines=False)

    @strawberry.field
    async def lines(self, info: Info) -> list[TransferOrderLine]:
        lines = self.loaded_lines
        if lines is None:
            loader = info.context.loaders.custom("transfer_lines", transfers.lines_by_orders)
            lines = tuple(await loader.load(self.id) or ())
        return [TransferOrderLine.from_record(line) for line in lines]

    @strawberry.field
    async def from_warehouse(self, info: Info) -> Warehouse | None:
        return await _warehouse(info, self.from_warehouse_id)

    @strawberry.field
    async def to_warehouse(self, info: Info) -> Warehouse | None:
        return await _warehouse(info, self.to_warehouse_id)

    @strawberry.field(description="Lines closed short, to investigate.")
    async def discrepancies(self, info: Info) -> list[TransferDiscrepancy]:
        loader = info.context.loaders.custom(
            "transfer_discrepancies", discrepancies.discrepancies_by_orders
        )
        rows = await loader.load(self.id)
        return [TransferDiscrepancy.from_row(row) for row in rows or []]


TransferOrderConnection = Connection[TransferOrder]
TransferDiscrepancyConnection = Connection[TransferDiscrepancy]


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
        return await _product(info, self.product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await _warehouse(info, self.warehouse_id)


ReconciliationDiscrepancyConnection = Connection[ReconciliationDiscrepancy]


@strawberry.type(description="One reconciliation: what was checked and what disagreed.")
class ReconciliationRun:
    id: strawberry.ID
    trigger: ReconciliationTriggerEnum  # type: ignore[valid-type]
    actor: str
    levels_checked: int
    discrepancy_count: int
    started_at: datetime
    finished_at: datetime
    run_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int | None]

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
        )

    @strawberry.field(description="The warehouse checked; null: every warehouse.")
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await _warehouse(info, self.warehouse_id)

    @strawberry.field
    async def discrepancies(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ReconciliationDiscrepancyConnection:
        listing = reconciliation.discrepancy_listing(run_id=self.run_id)
        return await paginate(
            info,
            listing,
            ReconciliationDiscrepancy.from_row,
            first,
            after,
            ReconciliationDiscrepancyConnection,
        )


@strawberry.type(description="A physical count of one product, compared with onHand.")
class CycleCountLine:
    id: strawberry.ID
    cycle_count_id: strawberry.ID
    counted_quantity: int
    system_quantity: int = strawberry.field(description="onHand when counted.")
    difference: int = strawberry.field(description="counted - system.")
    status: CycleCountLineStatusEnum  # type: ignore[valid-type]
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
        return await _product(info, self.product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await _warehouse(info, self.warehouse_id)

    @strawberry.field(description="The CYCLE_COUNT ledger row that applied it.")
    async def movement(self, info: Info) -> InventoryMovement | None:
        return await _movement(info, self.movement_id)


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
        return await _warehouse(info, self.warehouse_id)
