"""Mutations of transfer orders and their discrepancies (MANAGE_STOCK)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Self, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.permissions import mutate
from onhand.api.reservations.terms import reservation_terms
from onhand.api.transfers.inputs import (
    CancelTransferOrderInput,
    CreateTransferOrderInput,
    ReceiveTransferOrderInput,
    ResolveTransferDiscrepancyInput,
    ShipTransferOrderInput,
)
from onhand.api.transfers.types import TransferDiscrepancy, TransferOrder
from onhand.auth.roles import Permission
from onhand.inventory.ledger import ChangeContext
from onhand.inventory.transfers.creating import create_transfer_order
from onhand.inventory.transfers.discrepancies import resolve_discrepancy
from onhand.inventory.transfers.orders import TransferOrder as TransferRecord
from onhand.inventory.transfers.receiving import receive_transfer_order
from onhand.inventory.transfers.shipping import cancel_transfer_order, ship_transfer_order

STOCK = Permission.MANAGE_STOCK


R = TypeVar("R")
P = TypeVar("P", bound="TransferOrderPayload")


async def _step(
    info: Info,
    request_of: Callable[[], R],
    apply: Callable[[AsyncConnection, R, ChangeContext], Awaitable[TransferRecord]],
    payload: type[P],
) -> P:
    """Move an existing order on (ship, receive, cancel), answered as `payload`."""

    async def work(context: Context) -> P:
        request = request_of()
        change = context.change_context()
        record = await context.transaction(lambda conn: apply(conn, request, change))
        return payload.of(record)

    return await mutate(info, STOCK, payload, work)


@strawberry.type
class TransferOrderPayload:
    transfer_order: TransferOrder | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, record: TransferRecord) -> Self:
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
class ResolveTransferDiscrepancyPayload:
    transfer_discrepancy: TransferDiscrepancy | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TransferOrderMutation:
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
        return await _step(info, input.request, ship_transfer_order, ShipTransferOrderPayload)

    @strawberry.mutation(description="Receive units in transit (partial receipts allowed).")
    async def receive_transfer_order(
        self, info: Info, input: ReceiveTransferOrderInput
    ) -> ReceiveTransferOrderPayload:
        return await _step(info, input.request, receive_transfer_order, ReceiveTransferOrderPayload)

    @strawberry.mutation(
        description="Cancel: PENDING releases the reservations; in transit returns the units."
    )
    async def cancel_transfer_order(
        self, info: Info, input: CancelTransferOrderInput
    ) -> CancelTransferOrderPayload:
        return await _step(info, input.request, cancel_transfer_order, CancelTransferOrderPayload)


# Its own type so that the schema lists it after the count mutations, where it always was.
@strawberry.type
class TransferDiscrepancyMutation:
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
