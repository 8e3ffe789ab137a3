"""recordInventoryEvents: ERPs and warehouse systems push their inventory events."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import partial

import strawberry

from onhand.api.context import Context, Info
from onhand.api.errors import UserError, from_problem
from onhand.api.events.scalars import Long
from onhand.api.ids import decode
from onhand.api.permissions import mutate
from onhand.api.source_events.types import (
    SourceEvent,
    SourceEventOutcomeEnum,
    SourceEventTypeEnum,
    load_source_event,
)
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.inventory.source_events import recording as source_events
from onhand.inventory.source_events.inputs import EventInput
from onhand.inventory.source_events.results import EventResult


@strawberry.input(
    description="One canonical inventory event. Name the product by productId or sku and the "
    "location by warehouseId or warehouseCode."
)
class InventoryEventInput:
    source_system: str | None = strawberry.field(
        default=None, description="The system's code (e.g. SAP-EU, WMS-DC1)."
    )
    event_id: str | None = strawberry.field(
        default=None, description="Unique per source system: a resend is a DUPLICATE."
    )
    sequence: Long | None = strawberry.field(
        default=None, description="Per source system: 1, 2, 3, ... with no gaps."
    )
    type: SourceEventTypeEnum | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    destination_warehouse_id: strawberry.ID | None = strawberry.field(
        default=None, description="TRANSFER only."
    )
    destination_warehouse_code: str | None = strawberry.field(
        default=None, description="TRANSFER only."
    )
    quantity_delta: int | None = strawberry.field(
        default=None, description="The signed change of on-hand units at the location."
    )
    quantity: int | None = strawberry.field(
        default=None, description="COUNT only: the counted on-hand quantity."
    )
    occurred_at: datetime | None = strawberry.field(
        default=None, description="The business timestamp (defaults to when it is applied)."
    )
    counted_at: datetime | None = strawberry.field(
        default=None,
        description="COUNT only: when the stock was counted (its business timestamp, so give "
        "this or occurredAt). The count corrects on hand by its difference as of then: sales "
        "and receipts recorded since are kept, never overwritten. Left out (and occurredAt "
        "too): as of when it is applied.",
    )
    reference_document: str | None = strawberry.field(
        default=None, description="The order, ASN, transfer order or RMA number."
    )
    correlation_id: str | None = None
    reason: str | None = None


@strawberry.input
class RecordInventoryEventsInput:
    events: list[InventoryEventInput]


@strawberry.type(description="What became of one pushed event.")
class SourceEventResult:
    source_system: str | None
    event_id: str | None
    sequence: Long | None
    status: SourceEventOutcomeEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    expected_sequence: Long | None = strawberry.field(
        description="The next sequence the source system is expected to send."
    )
    errors: list[UserError]
    _stored: strawberry.Private[int | None]

    @strawberry.field(description="The stored event (none when REJECTED).")
    async def event(self, info: Info) -> SourceEvent | None:
        if self._stored is None:
            return None
        record = await load_source_event(info, self._stored)
        return SourceEvent.from_record(record) if record else None


@strawberry.type
class RecordInventoryEventsPayload:
    results: list[SourceEventResult] = strawberry.field(
        default_factory=list, description="One per input event, in input order."
    )
    released: list[SourceEvent] = strawberry.field(
        default_factory=list,
        description="Events held by earlier calls that these events let through.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


def _ref(
    problems: list[Problem],
    node_id: str | None,
    key: str | None,
    type_name: str,
    id_field: str,
    key_field: str,
) -> Ref | None:
    if node_id is None and key is None:
        return None
    if node_id is not None and key is not None:
        problems.append(
            Problem(ErrorCode.INVALID, f"give either {id_field} or {key_field}, not both", id_field)
        )
        return None
    if key is not None:
        return Ref(key=key, field=key_field)
    try:
        return Ref(id=decode(node_id or "", type_name, id_field), field=id_field)
    except DomainError as error:
        problems.extend(error.problems)
        return None


def _event(e: InventoryEventInput) -> EventInput:
    problems: list[Problem] = []
    product = _ref(problems, e.product_id, e.sku, "Product", "productId", "sku")
    location = _ref(
        problems, e.warehouse_id, e.warehouse_code, "Warehouse", "warehouseId", "warehouseCode"
    )
    destination = _ref(
        problems,
        e.destination_warehouse_id,
        e.destination_warehouse_code,
        "Warehouse",
        "destinationWarehouseId",
        "destinationWarehouseCode",
    )
    return EventInput(
        source_system=e.source_system,
        event_id=e.event_id,
        sequence=e.sequence,
        type=e.type,
        product=product,
        location=location,
        destination=destination,
        quantity_delta=e.quantity_delta,
        quantity=e.quantity,
        occurred_at=e.occurred_at,
        counted_at=e.counted_at,
        reference_document=e.reference_document,
        correlation_id=e.correlation_id,
        reason=e.reason,
        problems=tuple(problems),
    )


def _result(result: EventResult) -> SourceEventResult:
    return SourceEventResult(
        source_system=result.source_system,
        event_id=result.event_id,
        sequence=Long(result.sequence) if result.sequence is not None else None,
        status=result.outcome,
        expected_sequence=(
            Long(result.expected_sequence) if result.expected_sequence is not None else None
        ),
        errors=[from_problem(p) for p in result.problems],
        _stored=result.source_event_id,
    )


@strawberry.type
class SourceEventMutation:
    @strawberry.mutation(
        description="Record inventory events pushed by an ERP or warehouse system, each "
        "answered in `results`: a resent event id is a DUPLICATE (ignored); an event ahead "
        "of its source's sequence is HELD until the gap fills, then applied in order; a "
        "stale sequence or bad input is REJECTED (nothing changes, the sequence stays); an "
        "event the ledger refuses when its turn comes (not enough stock) is FAILED: kept "
        "with its errors (sourceEvents(status: FAILED)) and the sequence moves past it. "
        "Each applied event is a ledger change with source EXTERNAL."
    )
    async def record_inventory_events(
        self, info: Info, input: RecordInventoryEventsInput
    ) -> RecordInventoryEventsPayload:
        async def work(context: Context) -> RecordInventoryEventsPayload:
            if not input.events:
                raise DomainError.of(ErrorCode.REQUIRED, "give at least one event", "events")
            if len(input.events) > source_events.MAX_EVENTS:
                raise DomainError.of(
                    ErrorCode.INVALID,
                    f"at most {source_events.MAX_EVENTS} events per call",
                    "events",
                )
            assert context.principal is not None
            actor = context.principal.name
            events = [_event(e) for e in input.events]
            bound = context.principal.source_system
            if bound is not None:
                events = [_as_bound(e, i, bound) for i, e in enumerate(events)]
            results, groups = source_events.plan(events)
            released: list[int] = []
            # One transaction per source system: a source's lock is never held while
            # waiting for another's.
            for code, group in groups.items():
                outcome = await context.transaction(
                    partial(source_events.record_group, code=code, group=group, actor=actor)
                )
                results += outcome.results
                released += outcome.released
            results.sort(key=lambda r: r.index)
            found = await context.loaders.source_events.by_id.load_many(released)
            return RecordInventoryEventsPayload(
                results=[_result(r) for r in results],
                released=[SourceEvent.from_record(r) for r in found if r],
            )

        return await mutate(info, Permission.RECORD_EVENTS, RecordInventoryEventsPayload, work)


def _as_bound(event: EventInput, index: int, bound: str) -> EventInput:
    """A token bound to a source system posts only as that system (named or left out)."""
    if event.source_system is None:
        return dataclasses.replace(event, source_system=bound)
    if event.source_system != bound:
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            f"this token records events only as {bound}, not {event.source_system}",
            f"events.{index}.sourceSystem",
        )
    return event
