"""GraphQL types of source-system events and source systems."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.errors import UserError, from_problem
from onhand.api.events.scalars import Long
from onhand.api.inventory.types import InventoryMovement
from onhand.api.pagination import Connection
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.inventory.source_events import records
from onhand.inventory.source_events.inputs import SourceEventType
from onhand.inventory.source_events.results import Outcome, stored_problems

SourceEventTypeEnum = strawberry.enum(
    SourceEventType,
    name="SourceEventType",
    description="RECEIPT and RETURN add stock (quantityDelta > 0); PICK, SHIPMENT, DAMAGE "
    "and TRANSFER take it from the location (quantityDelta < 0; a TRANSFER adds it at the "
    "destination); ADJUSTMENT is any non-zero delta; COUNT sets the counted `quantity`.",
)
SourceEventStatusEnum = strawberry.enum(
    records.SourceEventStatus,
    name="SourceEventStatus",
    description="HELD: ahead of its source's sequence, waiting for the events before it. "
    "APPLIED: in the ledger. FAILED: refused by the ledger when its turn came (see errors); "
    "it changed nothing and the sequence moved past it.",
)
SourceEventOutcomeEnum = strawberry.enum(
    Outcome,
    name="SourceEventOutcome",
    description="What recordInventoryEvents did with one event. DUPLICATE: its event id was "
    "already received (nothing done again). REJECTED: not accepted, nothing changed, the "
    "sequence did not move (bad input, or OUT_OF_ORDER: a stale sequence); correct and resend.",
)


async def load_source_event(info: Info, event_id: int) -> records.SourceEvent | None:
    loader = info.context.loaders.source_events.by_id
    found: records.SourceEvent | None = await loader.load(event_id)
    return found


@strawberry.type(description="An inventory event an ERP or warehouse system pushed.")
class SourceEvent(relay.Node):
    id: relay.NodeID[int]
    source_system: str
    event_id: str = strawberry.field(description="The source's own id of the event.")
    sequence: Long = strawberry.field(description="Its place in its source's sequence.")
    type: SourceEventTypeEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    status: SourceEventStatusEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    quantity: int = strawberry.field(
        description="The signed change at the warehouse; for a COUNT the counted quantity."
    )
    occurred_at: datetime | None = strawberry.field(description="The business timestamp.")
    reference_document: str | None
    correlation_id: str | None
    reason: str | None
    actor: str = strawberry.field(description="The API token that pushed it.")
    received_at: datetime
    processed_at: datetime | None = strawberry.field(description="When applied or failed.")
    errors: list[UserError] = strawberry.field(description="FAILED: why.")
    _product_id: strawberry.Private[int]
    _warehouse_id: strawberry.Private[int]
    _destination_id: strawberry.Private[int | None]
    _movement_ids: strawberry.Private[list[int]]

    @classmethod
    def from_record(cls, record: records.SourceEvent) -> SourceEvent:
        return cls(
            id=record.id,
            source_system=record.source_system,
            event_id=record.event_id,
            sequence=Long(record.sequence),
            type=SourceEventType(record.type),
            status=record.status,
            quantity=record.quantity,
            occurred_at=record.occurred_at,
            reference_document=record.reference_document,
            correlation_id=record.correlation_id,
            reason=record.reason,
            actor=record.actor,
            received_at=record.received_at,
            processed_at=record.processed_at,
            errors=[from_problem(p) for p in stored_problems(record.errors)],
            _product_id=record.product_id,
            _warehouse_id=record.warehouse_id,
            _destination_id=record.destination_warehouse_id,
            _movement_ids=list(record.movement_ids or []),
        )

    @classmethod
    def from_row(cls, row: object) -> SourceEvent:
        return cls.from_record(records.SourceEvent.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[SourceEvent | None]:
        check(info, Permission.READ_AUDIT)
        wanted = ids.node_ids(node_ids, "SourceEvent")
        found = await asyncio.gather(*(load_source_event(info, i) for i in wanted))
        return [cls.from_record(r) if r else None for r in found]

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self._warehouse_id)

    @strawberry.field(description="A TRANSFER's destination.")
    async def destination_warehouse(self, info: Info) -> Warehouse | None:
        if self._destination_id is None:
            return None
        return await Warehouse.load(info, self._destination_id)

    @strawberry.field(description="The ledger rows it wrote (none unless APPLIED).")
    async def movements(self, info: Info) -> list[InventoryMovement]:
        check(info, Permission.READ_AUDIT)
        found = await info.context.loaders.movement.load_many(self._movement_ids)
        return [InventoryMovement.from_record(m) for m in found if m]


@strawberry.type(description="An ERP or warehouse system pushing events, and where it stands.")
class SourceSystem:
    code: str
    last_applied_sequence: Long = strawberry.field(
        description="The last sequence applied or failed: the next expected is this + 1."
    )
    expected_sequence: Long
    held_count: int = strawberry.field(description="Events held, waiting for earlier ones.")
    failed_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: object) -> SourceSystem:
        record = records.SourceSystem.from_row(row)
        return cls(
            code=record.code,
            last_applied_sequence=Long(record.last_applied_sequence),
            expected_sequence=Long(record.last_applied_sequence + 1),
            held_count=record.held_count,
            failed_count=record.failed_count,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


SourceEventConnection = Connection[SourceEvent]
SourceSystemConnection = Connection[SourceSystem]
