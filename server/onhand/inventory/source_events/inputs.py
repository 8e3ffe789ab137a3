"""Source-system events as pushed, and their validation: what an ERP or warehouse system must
send for an event to be accepted into its source's sequence.

The event model follows the canonical inventory event: source system, event id, per-source
sequence, transaction type, product, location, quantity delta, business timestamp, business
document reference and correlation id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.db.tables import products, warehouses


class SourceEventType(StrEnum):
    RECEIPT = "RECEIPT"  # goods received: quantityDelta > 0
    PICK = "PICK"  # picked for an order: quantityDelta < 0
    SHIPMENT = "SHIPMENT"  # left the building: quantityDelta < 0
    RETURN = "RETURN"  # customer return put back: quantityDelta > 0
    COUNT = "COUNT"  # a physical count: `quantity` is the counted on-hand, absolute
    ADJUSTMENT = "ADJUSTMENT"  # any correction: quantityDelta non-zero
    TRANSFER = "TRANSFER"  # moved to `destination`: quantityDelta < 0 (it leaves `location`)
    DAMAGE = "DAMAGE"  # written off as damaged: quantityDelta < 0


# Sequences are PostgreSQL bigints.
MAX_SEQUENCE = 2**63 - 1
_POSITIVE = {SourceEventType.RECEIPT, SourceEventType.RETURN}
_NEGATIVE = {
    SourceEventType.PICK,
    SourceEventType.SHIPMENT,
    SourceEventType.DAMAGE,
    SourceEventType.TRANSFER,
}


@dataclass(frozen=True)
class EventInput:
    """One event as received. Refs name their input field (`sku`, `warehouseCode`, ...);
    `problems` are those the API found reading it (a malformed global id)."""

    source_system: str | None
    event_id: str | None
    sequence: int | None
    type: SourceEventType | None
    product: Ref | None = None
    location: Ref | None = None
    destination: Ref | None = None
    quantity_delta: int | None = None
    quantity: int | None = None
    occurred_at: datetime | None = None
    reference_document: str | None = None
    correlation_id: str | None = None
    reason: str | None = None
    problems: tuple[Problem, ...] = ()
    # A COUNT's moment (its business timestamp under another name: the one counts speak).
    counted_at: datetime | None = None


@dataclass
class Checked:
    """An event read and judged on its own (the source's sequence not yet considered).
    `identity` problems make it impossible to place in a sequence; `content` ones make it
    unappliable. Ids are set once the refs resolved."""

    index: int
    event: EventInput
    source_system: str | None = None
    event_id: str | None = None
    identity: list[Problem] = field(default_factory=list)
    content: list[Problem] = field(default_factory=list)
    # Unknown products or warehouses: set afresh by each resolve() (a retried transaction).
    unknown: list[Problem] = field(default_factory=list)
    product_id: int | None = None
    warehouse_id: int | None = None
    destination_id: int | None = None
    amount: int = 0  # the delta, or the counted quantity of a COUNT
    # The business timestamp: occurredAt, or a COUNT's countedAt.
    occurred_at: datetime | None = None
    reference_document: str | None = None
    correlation_id: str | None = None
    reason: str | None = None


def check_event(index: int, event: EventInput) -> Checked:
    ident = Collector()
    source = check.text(ident, "sourceSystem", event.source_system, max_length=64, required=True)
    if source is not None:
        check.code(ident, "sourceSystem", source)
    event_id = check.text(ident, "eventId", event.event_id, max_length=200, required=True)
    if event.sequence is None:
        ident.add(ErrorCode.REQUIRED, "sequence is required", "sequence")
    elif not 1 <= event.sequence <= MAX_SEQUENCE:
        ident.invalid("sequence", f"sequence must be a positive integer (got {event.sequence})")
    content = Collector()
    content.problems.extend(event.problems)
    if event.type is None:
        content.add(ErrorCode.REQUIRED, "type is required", "type")
    named = {p.field for p in event.problems}
    if event.product is None and not named & {"productId", "sku"}:
        content.add(ErrorCode.REQUIRED, "give productId or sku", "sku")
    if event.location is None and not named & {"warehouseId", "warehouseCode"}:
        content.add(ErrorCode.REQUIRED, "give warehouseId or warehouseCode", "warehouseCode")
    amount = _amount(content, event)
    _destination(content, event)
    occurred_at = _business_time(content, event)
    checked = Checked(
        index,
        event,
        source_system=source,
        event_id=event_id,
        identity=ident.problems,
        amount=amount,
        occurred_at=occurred_at,
        reference_document=check.text(
            content, "referenceDocument", event.reference_document, max_length=200
        ),
        correlation_id=check.text(content, "correlationId", event.correlation_id, max_length=200),
        reason=check.text(content, "reason", event.reason, max_length=500),
    )
    checked.content = content.problems
    return checked


def _amount(errors: Collector, event: EventInput) -> int:
    kind = event.type
    if kind == SourceEventType.COUNT:
        if event.quantity_delta is not None:
            errors.invalid("quantityDelta", "a COUNT gives the counted `quantity`, not a delta")
        if event.quantity is None:
            errors.add(ErrorCode.REQUIRED, "a COUNT needs the counted quantity", "quantity")
            return 0
        check.quantity(errors, "quantity", event.quantity)
        return event.quantity
    if event.quantity is not None and kind is not None:
        errors.invalid("quantity", "only a COUNT gives an absolute quantity; send quantityDelta")
    delta = event.quantity_delta
    if delta is None:
        errors.add(ErrorCode.REQUIRED, "quantityDelta is required", "quantityDelta")
        return 0
    check.quantity(errors, "quantityDelta", delta, allow_zero=False, allow_negative=True)
    if kind in _POSITIVE and delta < 0:
        errors.invalid("quantityDelta", f"a {kind} adds stock: quantityDelta must be positive")
    elif kind in _NEGATIVE and delta > 0:
        errors.invalid(
            "quantityDelta",
            f"a {kind} takes stock from the location: quantityDelta must be negative",
        )
    return delta


def _business_time(errors: Collector, event: EventInput) -> datetime | None:
    """occurredAt, or a COUNT's countedAt (as of which it is applied: applying.py)."""
    occurred_at = check.timestamp(errors, "occurredAt", event.occurred_at)
    if event.counted_at is None:
        return occurred_at
    if event.type is not None and event.type != SourceEventType.COUNT:
        errors.invalid("countedAt", f"only a COUNT has countedAt; a {event.type} has occurredAt")
        return occurred_at
    counted_at = check.timestamp(errors, "countedAt", event.counted_at)
    if occurred_at is not None and counted_at is not None and occurred_at != counted_at:
        errors.invalid(
            "countedAt", "a COUNT's countedAt is its occurredAt: give one, or the same time"
        )
    return counted_at


def _destination(errors: Collector, event: EventInput) -> None:
    if event.type == SourceEventType.TRANSFER:
        named = {p.field for p in event.problems}
        if event.destination is None and not named & {
            "destinationWarehouseId",
            "destinationWarehouseCode",
        }:
            errors.add(
                ErrorCode.REQUIRED,
                "a TRANSFER needs destinationWarehouseId or destinationWarehouseCode",
                "destinationWarehouseCode",
            )
    # Whether it names another warehouse is judged once the refs are resolved.
    elif event.destination is not None and event.type is not None:
        errors.invalid(
            event.destination.field, f"only a TRANSFER has a destination, not {event.type}"
        )


async def resolve(conn: AsyncConnection, events: Sequence[Checked]) -> None:
    """Set each event's product and warehouse ids (two queries for all of them); an unknown
    one is a content problem of its event, naming the field."""
    product_refs = [c.event.product for c in events if c.event.product]
    warehouse_refs = [ref for c in events for ref in (c.event.location, c.event.destination) if ref]
    product_ids, skus = await _lookup(conn, product_refs, products.c.id, products.c.sku)
    warehouse_ids, codes = await _lookup(conn, warehouse_refs, warehouses.c.id, warehouses.c.code)
    for c in events:
        e = c.event
        c.unknown = []
        c.product_id = _pick(c, e.product, product_ids, skus, "product")
        c.warehouse_id = _pick(c, e.location, warehouse_ids, codes, "warehouse")
        c.destination_id = _pick(c, e.destination, warehouse_ids, codes, "warehouse")
        if c.destination_id is not None and c.destination_id == c.warehouse_id:
            field_name = e.destination.field if e.destination else "destinationWarehouseCode"
            c.unknown.append(
                Problem(
                    ErrorCode.INVALID,
                    "a TRANSFER needs a destination other than its location",
                    field_name,
                )
            )


async def _lookup(
    conn: AsyncConnection, refs: Sequence[Ref], id_column: Column[Any], key_column: Column[Any]
) -> tuple[set[int], dict[str, int]]:
    ids = {r.id for r in refs if r.id is not None}
    keys = {r.key for r in refs if r.key is not None}
    if not ids and not keys:
        return set(), {}
    rows = await conn.execute(
        select(id_column, key_column).where(id_column.in_(ids) | key_column.in_(keys))
    )
    known: set[int] = set()
    by_key: dict[str, int] = {}
    for row_id, row_key in rows:
        known.add(row_id)
        by_key[row_key] = row_id
    return known, by_key


def _pick(
    c: Checked, ref: Ref | None, ids: set[int], keys: dict[str, int], what: str
) -> int | None:
    if ref is None:
        return None
    if ref.id is not None and ref.id in ids:
        return ref.id
    if ref.key is not None and ref.key in keys:
        return keys[ref.key]
    named = ref.key if ref.key is not None else ref.id
    c.unknown.append(Problem(ErrorCode.NOT_FOUND, f"{what} {named} does not exist", ref.field))
    return None
