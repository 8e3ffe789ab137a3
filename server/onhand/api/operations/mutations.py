"""Mutations of transfer orders, reconciliation and cycle counts (MANAGE_STOCK)."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.operations.count_types import (
    CycleCount,
    CycleCountLine,
    ReconciliationRun,
)
from onhand.api.operations.inputs import (
    ApproveCycleCountLineInput,
    CancelTransferOrderInput,
    CreateTransferOrderInput,
    ReceiveTransferOrderInput,
    ReconcileInventoryInput,
    RecordCycleCountInput,
    RejectCycleCountLineInput,
    ResolveTransferDiscrepancyInput,
    ShipTransferOrderInput,
    line_id,
)
from onhand.api.operations.types import (
    TransferDiscrepancy,
    TransferOrder,
)
from onhand.api.permissions import mutate
from onhand.api.reservations.terms import reservation_terms
from onhand.auth.roles import Permission
from onhand.inventory.counts.cycle_counts import record_cycle_count
from onhand.inventory.counts.reconciliation import reconcile
from onhand.inventory.counts.reviews import review_line
from onhand.inventory.transfers.creating import create_transfer_order
from onhand.inventory.transfers.discrepancies import resolve_discrepancy
from onhand.inventory.transfers.orders import TransferOrder as TransferRecord
from onhand.inventory.transfers.receiving import receive_transfer_order
from onhand.inventory.transfers.shipping import cancel_transfer_order, ship_transfer_order

STOCK = Permission.MANAGE_STOCK


P = TypeVar("P")


async def _review(
    info: Info, node_id: strawberry.ID, note: str | None, approve: bool, payload: type[P]
) -> P:
    """Approve or reject a count line under review, as `payload`."""

    async def work(context: Context) -> P:
        target = line_id(node_id)
        change = context.change_context()
        line = await context.transaction(
            lambda conn: review_line(conn, target, approve, note, change)
        )
        return payload(cycle_count_line=CycleCountLine.from_record(line))  # type: ignore[call-arg]

    return await mutate(info, STOCK, payload, work)


@strawberry.type
class TransferOrderPayload:
    transfer_order: TransferOrder | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, record: TransferRecord) -> TransferOrderPayload:
        return cls(transfer_order=TransferOrder.from_record(record))


@strawberry.type
class CreateTransferOrderPayload(TransferOrderPayload):
    pass


@strawberry.type
class ShipTransferOrderPayload(TransferOrderPayload):
    pass


@strawberry.type
class ReceiveTransferOrderPayload(TransferOrderPayload):
    pass


@strawberry.type
class CancelTransferOrderPayload(TransferOrderPayload):
    pass


@strawberry.type
class ReconcileInventoryPayload:
    run: ReconciliationRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordCycleCountPayload:
    cycle_count: CycleCount | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApproveCycleCountLinePayload:
    cycle_count_line: CycleCountLine | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RejectCycleCountLinePayload:
    cycle_count_line: CycleCountLine | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ResolveTransferDiscrepancyPayload:
    transfer_discrepancy: TransferDiscrepancy | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OperationsMutation:
    @strawberry.mutation(description="A PENDING transfer order, its units reserved at the source.")
    async def create_transfer_order(
        self, info: Info, input: CreateTransferOrderInput
    ) -> CreateTransferOrderPayload:
        async def work(context: Context) -> CreateTransferOrderPayload:
            request = input.request()
            terms = await reservation_terms(context, routing=False)
            change = context.change_context()
            record = await context.transaction(
                lambda conn: create_transfer_order(conn, request, change, terms)
            )
            return CreateTransferOrderPayload.of(record)

        return await mutate(info, STOCK, CreateTransferOrderPayload, work)

    @strawberry.mutation(
        description="Ship: units leave the source and are incoming at the destination."
    )
    async def ship_transfer_order(
        self, info: Info, input: ShipTransferOrderInput
    ) -> ShipTransferOrderPayload:
        async def work(context: Context) -> ShipTransferOrderPayload:
            request = input.request()
            change = context.change_context()
            record = await context.transaction(
                lambda conn: ship_transfer_order(conn, request, change)
            )
            return ShipTransferOrderPayload.of(record)

        return await mutate(info, STOCK, ShipTransferOrderPayload, work)

    @strawberry.mutation(description="Receive units in transit (partial receipts allowed).")
    async def receive_transfer_order(
        self, info: Info, input: ReceiveTransferOrderInput
    ) -> ReceiveTransferOrderPayload:
        async def work(context: Context) -> ReceiveTransferOrderPayload:
            request = input.request()
            change = context.change_context()
            record = await context.transaction(
                lambda conn: receive_transfer_order(conn, request, change)
            )
            return ReceiveTransferOrderPayload.of(record)

        return await mutate(info, STOCK, ReceiveTransferOrderPayload, work)

    @strawberry.mutation(
        description="Cancel: PENDING releases the reservations; in transit returns the units."
    )
    async def cancel_transfer_order(
        self, info: Info, input: CancelTransferOrderInput
    ) -> CancelTransferOrderPayload:
        async def work(context: Context) -> CancelTransferOrderPayload:
            request = input.request()
            change = context.change_context()
            record = await context.transaction(
                lambda conn: cancel_transfer_order(conn, request, change)
            )
            return CancelTransferOrderPayload.of(record)

        return await mutate(info, STOCK, CancelTransferOrderPayload, work)

    @strawberry.mutation(
        description="Check levels against the ledger and the reservations; reports, fixes nothing."
    )
    async def reconcile_inventory(
        self, info: Info, input: ReconcileInventoryInput | None = None
    ) -> ReconcileInventoryPayload:
        async def work(context: Context) -> ReconcileInventoryPayload:
            warehouse = input.warehouse() if input is not None else None
            actor = context.change_context().actor
            run = await context.transaction(lambda conn: reconcile(conn, warehouse, actor))
            return ReconcileInventoryPayload(run=ReconciliationRun.from_record(run))

        return await mutate(info, STOCK, ReconcileInventoryPayload, work)

    @strawberry.mutation(
        description="Physical counts: small differences are applied, larger ones wait for review."
    )
    async def record_cycle_count(
        self, info: Info, input: RecordCycleCountInput
    ) -> RecordCycleCountPayload:
        async def work(context: Context) -> RecordCycleCountPayload:
            request = input.request()
            change = context.change_context()
            threshold = context.settings.cycle_count_threshold
            record = await context.transaction(
                lambda conn: record_cycle_count(conn, request, change, threshold)
            )
            return RecordCycleCountPayload(cycle_count=CycleCount.from_record(record))

        return await mutate(info, STOCK, RecordCycleCountPayload, work)

    @strawberry.mutation(description="Approve a count line under review: its difference applies.")
    async def approve_cycle_count_line(
        self, info: Info, input: ApproveCycleCountLineInput
    ) -> ApproveCycleCountLinePayload:
        return await _review(info, input.id, input.note, True, ApproveCycleCountLinePayload)

    @strawberry.mutation(description="Reject a count line under review: no stock changes.")
    async def reject_cycle_count_line(
        self, info: Info, input: RejectCycleCountLineInput
    ) -> RejectCycleCountLinePayload:
        return await _review(info, input.id, input.note, False, RejectCycleCountLinePayload)

    @strawberry.mutation(description="Close the investigation of a transfer discrepancy.")
    async def resolve_transfer_discrepancy(
        self, info: Info, input: ResolveTransferDiscrepancyInput
    ) -> ResolveTransferDiscrepancyPayload:
        async def work(context: Context) -> ResolveTransferDiscrepancyPayload:
            target = input.discrepancy_id()
            actor = context.change_context().actor
            row = await context.transaction(
                lambda conn: resolve_discrepancy(conn, target, input.resolution, actor)
            )
            return ResolveTransferDiscrepancyPayload(
                transfer_discrepancy=TransferDiscrepancy.from_row(row)
            )

        return await mutate(info, STOCK, ResolveTransferDiscrepancyPayload, work)
