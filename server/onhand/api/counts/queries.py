"""Queries of reconciliation and cycle counts (READ_AUDIT)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.counts.types import (
    CycleCount,
    CycleCountLine,
    CycleCountLineConnection,
    CycleCountLineStatusEnum,
    ReconciliationDiscrepancyConnection,
    ReconciliationRun,
    discrepancy_page,
)
from onhand.api.inputs import warehouse_filter_id
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.api.transfers.types import TransferDiscrepancy, TransferDiscrepancyConnection
from onhand.auth.roles import Permission
from onhand.inventory.counts import cycle_counts, reconciliation
from onhand.inventory.counts import reviews as cycle_count_reviews
from onhand.inventory.transfers import discrepancies
from onhand.inventory.transfers import orders as transfers

AUDIT = [requires(Permission.READ_AUDIT)]
MAX_RUNS = 100


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
        return await discrepancy_page(info, listing, first, after)

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
class CountQuery:
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
        status: list[CycleCountLineStatusEnum] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        warehouse_id: strawberry.ID | None = None,
        warehouse_code: str | None = None,
    ) -> CycleCountLineConnection:
        statuses = tuple(status) if status else (cycle_counts.LineStatus.PENDING_REVIEW,)
        warehouse = await warehouse_filter_id(info, warehouse_id, warehouse_code, "warehouseId")
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
