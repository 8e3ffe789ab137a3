"""Shortfalls are never silent: when a cart or an order is reserved only in part (reserveCart
with allowPartial), each line left short is a SHORTFALL event, written in the transaction that
reserved the rest, naming what is missing: the product, the warehouse (when the line named one,
or its pickup location) or else the channel, and the units requested, reserved and missing.
The alert evaluator raises an ORDER_SHORTFALL alert for an order's (inventory/alerts/).

Called from reserving.reserve_many only, once its holds are written; a request with nothing
short costs nothing (no statement at all when no request of the batch is short).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError
from onhand.events import outbox
from onhand.events.outbox import Event, Topic
from onhand.inventory.ledger import ChangeContext
from onhand.inventory.reservations.requests import Hold, LineFailure, Reserved, Resolved


async def report_shortfalls(
    conn: AsyncConnection,
    resolved: Mapping[int, Resolved],
    outcomes: Sequence[Reserved | DomainError | None],
    holds: Sequence[Hold],
    context: ChangeContext,
) -> None:
    """One SHORTFALL event per line that a partly reserved request left short."""
    events = [
        _event(item, failure, _reserved(holds, i, failure.line), context)
        for i, item in resolved.items()
        if isinstance(outcome := outcomes[i], Reserved)
        for failure in outcome.failures
    ]
    await outbox.append(conn, events)


def _reserved(holds: Sequence[Hold], request: int, line: int) -> int:
    return sum(h.quantity for h in holds if h.request == request and h.line == line)


def _event(item: Resolved, failure: LineFailure, reserved: int, context: ChangeContext) -> Event:
    request = item.request
    channel_id = item.channel.id if item.channel is not None else None
    warehouse_id = item.warehouses[failure.line]
    payload: dict[str, Any] = {
        "reservationType": str(request.type),
        "referenceId": item.reference_id,
        "operation": request.operation,
        "line": failure.line,
        "field": failure.field,
        "productId": failure.product_id,
        "warehouseId": warehouse_id,
        "channelId": channel_id,
        "pickup": request.pickup_location is not None,
        "requested": failure.requested,
        "reserved": reserved,
        "missing": failure.requested - reserved,
        "available": failure.available,
        "reason": failure.message,
        "actor": context.actor,
        "occurredAt": (context.occurred_at or datetime.now(UTC)).isoformat(),
    }
    return Event(
        Topic.SHORTFALL,
        payload,
        product_id=failure.product_id,
        warehouse_id=warehouse_id,
        channel_id=channel_id,
    )
