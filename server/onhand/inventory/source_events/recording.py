"""Recording the inventory events ERPs and warehouse systems push (recordInventoryEvents).

Each source system numbers its events 1, 2, 3, ... The rules, per event:
- DUPLICATE: an event id this source already sent (applied, failed or held) is ignored.
- REJECTED: the event cannot be accepted and changes nothing, nor the sequence: bad input
  (a missing field, an unknown SKU or warehouse), or a sequence at or below the last applied
  one (OUT_OF_ORDER, with the expected sequence), or a sequence another held event holds.
  The sender corrects it and sends it again.
- HELD: a sequence ahead of the expected one is stored and applied, in sequence order, as
  soon as the events before it arrive (in the same call or a later one).
- APPLIED: its turn came and its movements went through the ledger.
- FAILED: its turn came and the ledger refused it (not enough stock for a PICK, say). It
  changed nothing, is kept with its errors (sourceEvents(status: FAILED)), and the sequence
  moves past it: one refused event must not stop every later event of its source. Fixing the
  stock is then a new event (an ADJUSTMENT or a COUNT) with a new sequence.

Pushes of one source are serialized by a lock on its source_systems row, so concurrent
clients cannot apply an event twice or out of order. Each source of a call is recorded in a
transaction of its own (the caller's `record_group` per group).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import Problem
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.source_events.applying import apply_event
from onhand.inventory.source_events.inputs import Checked, EventInput, check_event, resolve
from onhand.inventory.source_events.records import SourceEventStatus
from onhand.inventory.source_events.results import (
    EventResult,
    GroupOutcome,
    Outcome,
    at_index,
    held_problem,
    out_of_order,
    result_of,
    stored,
)

# At most this many events in one call.
MAX_EVENTS = 500


def plan(events: Sequence[EventInput]) -> tuple[list[EventResult], dict[str, list[Checked]]]:
    """Judge each event on its own: those that cannot be placed in a sequence are rejected
    at once; the others are grouped by source system (codes in sorted order)."""
    rejected: list[EventResult] = []
    groups: dict[str, list[Checked]] = {}
    for index, event in enumerate(events):
        checked = check_event(index, event)
        if checked.identity or checked.source_system is None:
            problems = [at_index(index, p) for p in checked.identity]
            rejected.append(result_of(checked, Outcome.REJECTED, None, problems))
        else:
            groups.setdefault(checked.source_system, []).append(checked)
    return rejected, dict(sorted(groups.items()))


# A new source's row is made on its first event; a concurrent first push waits for it.
_LOCK_SOURCE = text(
    "INSERT INTO source_systems (code) VALUES (:code) ON CONFLICT (code) DO NOTHING"
)
_SELECT_SOURCE = text(
    "SELECT id, last_applied_sequence FROM source_systems WHERE code = :code FOR UPDATE"
)
_KNOWN = text(
    """
    SELECT id, event_id, sequence FROM source_events
    WHERE source_system_id = :source
      AND (event_id = ANY(CAST(:event_ids AS text[])) OR sequence = ANY(CAST(:seqs AS bigint[])))
    """
)
_INSERT = text(
    """
    INSERT INTO source_events (source_system_id, event_id, sequence, type, status, product_id,
        warehouse_id, destination_warehouse_id, quantity, occurred_at, reference_document,
        correlation_id, reason, actor)
    VALUES (:source, :event_id, :sequence, :type, 'HELD', :product_id, :warehouse_id,
        :destination_id, :quantity, :occurred_at, :reference_document, :correlation_id,
        :reason, :actor)
    RETURNING id
    """
)
# The held events next in line, a batch at a time (a source may hold many behind a gap).
_HELD = text(
    "SELECT * FROM source_events WHERE source_system_id = :source AND status = 'HELD'"
    " AND sequence > :last ORDER BY sequence LIMIT :limit"
)
_HELD_BATCH = 200
_SETTLE = text(
    """
    UPDATE source_events SET status = :status, movement_ids = :movement_ids,
        errors = CAST(:errors AS jsonb), processed_at = now()
    WHERE id = :id
    """
)
_ADVANCE = text(
    "UPDATE source_systems SET last_applied_sequence = :last, updated_at = now() WHERE id = :id"
)


async def record_group(
    conn: AsyncConnection, code: str, group: Sequence[Checked], actor: str
) -> GroupOutcome:
    """Record the events of one source system, in one transaction, under its row lock."""
    await resolve(conn, group)
    await conn.execute(_LOCK_SOURCE, {"code": code})
    source_id, last = (await conn.execute(_SELECT_SOURCE, {"code": code})).one()
    known = (
        await conn.execute(
            _KNOWN,
            {
                "source": source_id,
                "event_ids": [c.event_id for c in group],
                "seqs": [c.event.sequence for c in group],
            },
        )
    ).all()
    by_event = {row.event_id: row.id for row in known}
    by_sequence = {row.sequence: row.event_id for row in known}
    results: list[EventResult] = []
    for c in group:
        result = await _take(conn, c, source_id, last, by_event, by_sequence, actor)
        results.append(result)
    settled, last = await _drain(conn, source_id, code, last)
    expected = last + 1
    ours = {r.source_event_id for r in results if r.outcome == Outcome.HELD}
    for result in results:
        result.expected_sequence = expected
        if result.outcome != Outcome.HELD:
            continue
        done = settled.get(result.source_event_id or 0)
        if done is None:
            result.problems = [held_problem(result.sequence or 0, expected)]
        elif done.problems:
            result.outcome = Outcome.FAILED
            result.problems = list(done.problems)
        else:
            result.outcome = Outcome.APPLIED
    for result in results:
        result.problems = [at_index(result.index, p) for p in result.problems]
    released = [i for i in settled if i not in ours]
    return GroupOutcome(results, released)


async def _take(
    conn: AsyncConnection,
    c: Checked,
    source_id: int,
    last: int,
    by_event: dict[str, int],
    by_sequence: dict[int, str],
    actor: str,
) -> EventResult:
    """Accept one event as HELD (it is applied by _drain when its turn comes), or answer it."""
    sequence = c.event.sequence or 0
    assert c.event_id is not None
    if c.event_id in by_event:
        return result_of(c, Outcome.DUPLICATE, by_event[c.event_id], [])
    if c.content or c.unknown:
        return result_of(c, Outcome.REJECTED, None, c.content + c.unknown)
    if sequence <= last:
        message = (
            f"sequence {sequence} is at or below the last applied sequence {last} of"
            f" {c.source_system} and event {c.event_id} is unknown: the next expected is"
            f" {last + 1}"
        )
        return result_of(c, Outcome.REJECTED, None, [out_of_order(message, last + 1)])
    if sequence in by_sequence:
        message = (
            f"sequence {sequence} of {c.source_system} is already held by event"
            f" {by_sequence[sequence]}"
        )
        return result_of(c, Outcome.REJECTED, None, [out_of_order(message, last + 1)])
    event = c.event
    stored_id = (
        await conn.execute(
            _INSERT,
            {
                "source": source_id,
                "event_id": c.event_id,
                "sequence": sequence,
                "type": str(event.type),
                "product_id": c.product_id,
                "warehouse_id": c.warehouse_id,
                "destination_id": c.destination_id,
                "quantity": c.amount,
                "occurred_at": c.occurred_at,
                "reference_document": c.reference_document,
                "correlation_id": c.correlation_id,
                "reason": c.reason,
                "actor": actor,
            },
        )
    ).scalar_one()
    by_event[c.event_id] = stored_id
    by_sequence[sequence] = c.event_id
    return result_of(c, Outcome.HELD, stored_id, [])


@dataclass(frozen=True)
class _Settled:
    status: SourceEventStatus
    problems: list[Problem]


async def _drain(
    conn: AsyncConnection, source_id: int, code: str, last: int
) -> tuple[dict[int, _Settled], int]:
    """Apply the held events that are next in sequence, in order; returns what each became and
    the new last applied sequence."""
    settled: dict[int, _Settled] = {}
    events: list[Event] = []
    while True:
        params = {"source": source_id, "last": last, "limit": _HELD_BATCH}
        held = (await conn.execute(_HELD, params)).all()
        ready = [row for i, row in enumerate(held) if row.sequence == last + 1 + i]
        for row in ready:
            await _settle(conn, row, code, settled, events)
        if ready:
            last = ready[-1].sequence
        if len(ready) < _HELD_BATCH:
            break
    if settled:
        await conn.execute(_ADVANCE, {"last": last, "id": source_id})
    await append(conn, events)
    return settled, last


async def _settle(
    conn: AsyncConnection, row: Any, code: str, settled: dict[int, _Settled], events: list[Event]
) -> None:
    """Apply one held event whose turn came, and record what it became."""
    applied = await apply_event(conn, row, code)
    status = SourceEventStatus.APPLIED if applied.ok else SourceEventStatus.FAILED
    errors = [stored(p) for p in applied.problems] or None
    await conn.execute(
        _SETTLE,
        {
            "id": row.id,
            "status": str(status),
            "movement_ids": applied.movement_ids or None,
            "errors": json_dumps(errors),
        },
    )
    settled[row.id] = _Settled(status, applied.problems)
    events.append(_recorded(row, code, status, applied.movement_ids, errors))


def json_dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _recorded(
    row: Any,
    code: str,
    status: SourceEventStatus,
    movement_ids: list[int],
    errors: list[dict[str, Any]] | None,
) -> Event:
    return Event(
        Topic.SOURCE_EVENT_RECORDED,
        {
            "sourceEventId": row.id,
            "sourceSystem": code,
            "eventId": row.event_id,
            "sequence": row.sequence,
            "type": row.type,
            "status": str(status),
            "productId": row.product_id,
            "warehouseId": row.warehouse_id,
            "destinationWarehouseId": row.destination_warehouse_id,
            "quantity": row.quantity,
            "referenceDocument": row.reference_document,
            "correlationId": row.correlation_id,
            "movementIds": movement_ids,
            "errors": errors,
            "actor": row.actor,
        },
        product_id=row.product_id,
        warehouse_id=row.warehouse_id,
    )
