"""Queries of transfer orders (READ_STOCK), reconciliation and cycle counts (READ_AUDIT)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.operations.count_types import (
    CycleCount,
    CycleCountLine,
    CycleCountLineConnection,
    CycleCountLineStatusEnum,
    ReconciliationDiscrepancy,
    ReconciliationDiscrepancyConnection,
    ReconciliationRun,
)
from onhand.api.operations.types import (
    TransferDiscrepancy,
    TransferDiscrepancyConnection,
    TransferOrder,
    TransferOrderConnection,
    TransferOrderStatusEnum,
    load_transfer_order,
)
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.auth.roles import Permission
from onhand.inventory.counts import cycle_counts, reconciliation
from onhand.inventory.counts import reviews as cycle_count_reviews
from onhand.inventory.transfers import discrepancies
from onhand.inventory.transfers import orders as transfers

STOCK = [requires(Permission.READ_STOCK)]
AUDIT = [requires(Permission.READ_AUDIT)]
MAX_RUNS = 100
# Matches nothing: a filter naming an unknown warehouse finds no rows.
NOWHERE = 0


async def _warehouse_id(
    info: Info, warehouse_id: str | None, code: str | None, field: str
) -> int | None:
    if warehouse_id is not None:
        return ids.decode(warehouse_id, "Warehouse", field)
    if code is not None:
        found = await info.context.loaders.warehouse_by_code.load(code)
        return found.id if found else NOWHERE
    return None


@strawberry.input
class TransferOrderFilterInput:
    status: list[TransferOrderStatusEnum] | None = None  # type: ignore[valid-type]
    warehouse_id: strawberry.ID | None = strawberry.field(
        default=None, description="Orders from or to this warehouse."
    )
    warehouse_code: str | None = None
    from_warehouse_id: strawberry.ID | None = None
    from_warehouse_code: str | None = None
    to_warehouse_id: strawberry.ID | None = None
    to_warehouse_code: str | None = None


@strawberry.type(description="The last reconciliation runs and what is still open.")
class ReconciliationReport:
    runs: list[ReconciliationRun] = strawberry.field(description="Newest first.")

    @strawberry.field(description="Level discrepancies the latest runs still report.")
    async def open_discrepancies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        warehouse_id: strawberry.ID | None = None,
    ) -> ReconciliationDiscrepancyConnection:
        warehouse = ids.decode(warehouse_id, "Warehouse", "warehouseId") if warehouse_id else None
        listing = reconciliation.discrepancy_listing(open_only=True, warehouse_id=warehouse)
        return await paginate(
            info,
            listing,
            ReconciliationDiscrepancy.from_row,
            first,
            after,
            ReconciliationDiscrepancyConnection,
        )

    @strawberry.field(description="Transfer order lines closed short, under investigation.")
    async def transfer_discrepancies(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> TransferDiscrepancyConnection:
        listing = discrepancies.discrepancy_listing(
            (transfers.DiscrepancyStatus.PENDING_INVESTIGATION,)
        )
        return await paginate(
            info, listing, TransferDiscrepancy.from_row, first, after, TransferDiscrepancyConnection
        )


@strawberry.type
class OperationsQuery:
    @strawberry.field(permission_classes=STOCK, description="One transfer order, by id or number.")
    async def transfer_order(
        self, info: Info, id: strawberry.ID | None = None, number: str | None = None
    ) -> TransferOrder | None:
        if id is not None:
            order_id = ids.decode(id, "TransferOrder", "id")
        elif number is not None and number.startswith("TO-") and number[3:].isdigit():
            order_id = int(number[3:])
        else:
            return None
        if not 0 < order_id <= ids.MAX_ID:
            return None
        record = await load_transfer_order(info, order_id)
        return TransferOrder.from_record(record) if record else None

    @strawberry.field(permission_classes=STOCK, description="Transfer orders, newest first.")
    async def transfer_orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: TransferOrderFilterInput | None = None,
    ) -> TransferOrderConnection:
        given = filter or TransferOrderFilterInput()
        listing = transfers.transfer_listing(
            transfers.TransferFilter(
                statuses=tuple(given.status or ()),
                warehouse_id=await _warehouse_id(
                    info, given.warehouse_id, given.warehouse_code, "filter.warehouseId"
                ),
                from_warehouse_id=await _warehouse_id(
                    info,
                    given.from_warehouse_id,
                    given.from_warehouse_code,
                    "filter.fromWarehouseId",
                ),
                to_warehouse_id=await _warehouse_id(
                    info, given.to_warehouse_id, given.to_warehouse_code, "filter.toWarehouseId"
                ),
            )
        )

        return await paginate(
            info, listing, TransferOrder.from_row, first, after, TransferOrderConnection
        )

    @strawberry.field(permission_classes=AUDIT, description="Reconciliation runs and open issues.")
    async def reconciliation_report(self, info: Info, last_runs: int = 10) -> ReconciliationReport:
        if not 1 <= last_runs <= MAX_RUNS:
            raise GraphQLError(
                f"lastRuns must be between 1 and {MAX_RUNS}",
                extensions={"code": "BAD_USER_INPUT", "field": "lastRuns"},
            )
        runs = await info.context.read(lambda conn: reconciliation.latest_runs(conn, last_runs))
        return ReconciliationReport(runs=[ReconciliationRun.from_record(r) for r in runs])

    @strawberry.field(
        permission_classes=AUDIT, description="Cycle count lines by status (awaiting review first)."
    )
    async def cycle_count_reviews(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[CycleCountLineStatusEnum] | None = None,  # type: ignore[valid-type]
        warehouse_id: strawberry.ID | None = None,
        warehouse_code: str | None = None,
    ) -> CycleCountLineConnection:
        statuses = tuple(status) if status else (cycle_counts.LineStatus.PENDING_REVIEW,)
        warehouse = await _warehouse_id(info, warehouse_id, warehouse_code, "warehouseId")
        listing = cycle_count_reviews.review_listing(statuses, warehouse)
        return await paginate(
            info, listing, CycleCountLine.from_row, first, after, CycleCountLineConnection
        )

    @strawberry.field(permission_classes=AUDIT, description="One cycle count and its lines.")
    async def cycle_count(self, info: Info, id: strawberry.ID) -> CycleCount | None:
        count_id = ids.decode(id, "CycleCount", "id")
        found = await info.context.read(
            lambda conn: cycle_counts.cycle_counts_by_ids(conn, [count_id])
        )
        return CycleCount.from_record(found[count_id]) if count_id in found else None
