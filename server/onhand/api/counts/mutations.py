"""Mutations of reconciliation and cycle counts (MANAGE_STOCK)."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from onhand.api.context import Context, Info
from onhand.api.counts.inputs import (
    ApproveCycleCountLineInput,
    ReconcileInventoryInput,
    RecordCycleCountInput,
    RejectCycleCountLineInput,
    line_id,
)
from onhand.api.counts.types import CycleCount, CycleCountLine, ReconciliationRun
from onhand.api.errors import UserError
from onhand.api.permissions import mutate
from onhand.auth.roles import Permission
from onhand.inventory.counts.cycle_counts import record_cycle_count
from onhand.inventory.counts.reconciliation import Trigger, reconcile
from onhand.inventory.counts.reviews import review_line

STOCK = Permission.MANAGE_STOCK


P = TypeVar("P", bound="CycleCountLinePayload")


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
        return payload(cycle_count_line=CycleCountLine.from_record(line))

    return await mutate(info, STOCK, payload, work)


@strawberry.type
class ReconcileInventoryPayload:
    run: ReconciliationRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordCycleCountPayload:
    cycle_count: CycleCount | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CycleCountLinePayload:
    cycle_count_line: CycleCountLine | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApproveCycleCountLinePayload(CycleCountLinePayload):
    pass


@strawberry.type
class RejectCycleCountLinePayload(CycleCountLinePayload):
    pass


@strawberry.type
class CountMutation:
    @strawberry.mutation(
        description="Check levels against the ledger and the reservations and report; with "
        "repair, also put right what was found (a dry run by default, listing the movements "
        "it would write)."
    )
    async def reconcile_inventory(
        self, info: Info, input: ReconcileInventoryInput | None = None
    ) -> ReconcileInventoryPayload:
        async def work(context: Context) -> ReconcileInventoryPayload:
            warehouse = input.warehouse() if input is not None else None
            product = input.product() if input is not None else None
            mode = input.repair_mode() if input is not None else None
            actor = context.change_context().actor
            run = await context.transaction(
                lambda conn: reconcile(
                    conn, warehouse, actor, Trigger.MANUAL, mode, product=product
                )
            )
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
