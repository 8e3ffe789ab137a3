"""The alert evaluator: reads published events after its own cursor and raises or resolves
alerts, moving the cursor in the same transaction. Alerts raised or resolved are appended to
the outbox as ALERT_RAISED / ALERT_RESOLVED in that transaction too, so subscribers and
webhooks get them like any other event.

It reads events by the sequence the relay gives them, and the relay numbers an event only
once every transaction that could still commit an earlier one has ended (see events/relay.py):
so the cursor never moves past an event that is yet to appear. Whoever holds the evaluator's
advisory transaction lock evaluates (other processes skip the step), and the partial unique
index on unresolved alerts keeps "one open alert per condition and subject" even so.

Why an advisory lock and not the cursor row's: a row lock gives the transaction an xid at
once, and while any transaction with an xid runs, the relay holds back the events of every
later one (until its next wake-up, up to a poll interval later); a row lock taken on every
poll would keep doing that to everybody's events. The advisory lock takes no xid, the
"anything new?" check takes no lock at all, the xid comes only with the first write, just
before commit, and the step wakes the relay at commit (on the channel the outbox trigger
notifies), so whatever it held back is published at once.

- INVENTORY_UPDATED: the levels touched are judged again from their current state, all in
  one statement (rules.py); more LOW_STOCK or OUT_OF_STOCK alerts at once than the bulk
  threshold become one summary alert (bulk.py).
- SYNC_STALLED raises SYNC_STALLED for the channel; SYNC_RESUMED resolves it.
- TRANSFER_DISCREPANCY raises one alert per discrepancy, open until an operator resolves it.
- SHORTFALL of an ORDER raises ORDER_SHORTFALL (one per order and product), open until an
  operator resolves it (shortfalls.py).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.events import outbox
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.events.relay import NOTIFY_CHANNEL
from onhand.events.store import events_after
from onhand.inventory.alerts.bulk import summarise
from onhand.inventory.alerts.model import Alert, AlertKind, alert_event
from onhand.inventory.alerts.rules import (
    Draft,
    Thresholds,
    judge_levels,
    raise_alert,
    resolve_subject,
    velocity_subjects,
)
from onhand.inventory.alerts.shortfalls import order_shortfall
from onhand.inventory.transfers.orders import number_of

log = logging.getLogger(__name__)
BATCH = 1000
MAX_ID = 2**63 - 1
LOCK = 0x6F6E68616E6408  # the evaluator's advisory lock

_TOPICS = (
    Topic.INVENTORY_UPDATED,
    Topic.SYNC_STALLED,
    Topic.SYNC_RESUMED,
    Topic.TRANSFER_DISCREPANCY,
    Topic.SOURCE_EVENT_RECORDED,
    Topic.SHORTFALL,
)
_PAYLOAD_TOPICS = tuple(str(t) for t in _TOPICS if t != Topic.INVENTORY_UPDATED)


async def evaluate(conn: AsyncConnection, thresholds: Thresholds, batch: int = BATCH) -> int:
    """Judge the next batch of published events. Returns how many events it took (0: nothing
    new, or another process holds the cursor)."""
    if not await _behind(conn) or not await _lead(conn):
        return 0
    # Read after taking the lock: the previous holder's cursor is committed by now.
    cursor = (await conn.execute(text("SELECT last_sequence FROM alert_cursor"))).scalar()
    if cursor is None:
        return 0
    # Every topic is read (not only the ones judged), so the cursor moves past the rest too.
    # Stock changes are judged by their level alone (judge_levels reads it).
    events = await events_after(conn, cursor, batch, payloads_of=_PAYLOAD_TOPICS)
    if not events:
        return 0
    changed: list[Alert] = []
    pairs: list[tuple[int, int]] = []
    for event in events:
        if event.topic == Topic.INVENTORY_UPDATED:
            if event.product_id is not None and event.warehouse_id is not None:
                pairs.append((event.product_id, event.warehouse_id))
        elif event.topic in _TOPICS:
            # Stock first, so that events about a level keep their order with the others.
            changed += await judge_levels(conn, pairs, thresholds)
            pairs = []
            changed += await _judge_event(conn, event)
    changed += await judge_levels(conn, pairs, thresholds)
    changed = await summarise(
        conn,
        changed,
        thresholds.bulk,
        events[0].sequence,
        events[-1].sequence,
        thresholds.low_stock,
    )
    await conn.execute(
        text("UPDATE alert_cursor SET last_sequence = :s WHERE id = 1"),
        {"s": events[-1].sequence},
    )
    if changed:
        # Only then: a NOTIFY serialises the commits of every writer for a moment.
        await outbox.append(conn, [alert_event(alert) for alert in changed])
        await _wake_relay(conn)
    return len(events)


async def revisit_velocity(conn: AsyncConnection, thresholds: Thresholds) -> int:
    """Judge again the levels with an unresolved HIGH_VELOCITY alert (the last hour moves on
    without any event). Under the evaluator's lock like `evaluate`; returns the alerts changed."""
    subjects = await velocity_subjects(conn)
    if not subjects or not await _lead(conn):
        return 0
    changed = await judge_levels(conn, subjects, thresholds)
    if changed:
        await outbox.append(conn, [alert_event(alert) for alert in changed])
        await _wake_relay(conn)
    return len(changed)


async def _behind(conn: AsyncConnection) -> bool:
    """Whether events were published past the cursor (a plain read: no lock, no xid)."""
    found = (
        await conn.execute(
            text(
                "SELECT (SELECT last_sequence FROM alert_cursor WHERE id = 1)"
                " < (SELECT last_sequence FROM outbox_cursor WHERE id = 1)"
            )
        )
    ).scalar()
    return bool(found)


async def _lead(conn: AsyncConnection) -> bool:
    """Take the evaluator's lock until the transaction ends, unless another process has it."""
    return bool(
        (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK})).scalar()
    )


async def _wake_relay(conn: AsyncConnection) -> None:
    """Wake the relay when this transaction commits (see the module's docstring)."""
    await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


def _id(payload: dict[str, Any], key: str, fallback: int | None = None) -> int | None:
    """An id from another part's event; anything that cannot be one is left out, so that one
    malformed event can never stop the evaluator."""
    value = payload.get(key, fallback)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return fallback


async def _judge_event(conn: AsyncConnection, event: Published) -> list[Alert]:
    payload = event.payload if isinstance(event.payload, dict) else {}
    if event.topic in (Topic.SYNC_STALLED, Topic.SYNC_RESUMED):
        channel_id = _id(payload, "channelId", event.channel_id)
        if channel_id is None:
            log.warning("%s event %s names no channel; ignored", event.topic, event.sequence)
            return []
        subject = f"channel:{channel_id}"
        if event.topic == Topic.SYNC_RESUMED:
            return await resolve_subject(conn, AlertKind.SYNC_STALLED, subject)
        name = payload.get("channelCode") or await _channel_code(conn, channel_id)
        last = payload.get("lastSyncAt")
        draft = Draft(
            AlertKind.SYNC_STALLED,
            subject,
            f"Channel {name} stopped syncing"
            + (f" (last sync {last})" if last else " (never synced)"),
            details={k: v for k, v in payload.items() if k != "channelId"},
            channel_id=channel_id,
        )
        raised = await raise_alert(conn, draft)
        return [raised] if raised else []
    if event.topic == Topic.TRANSFER_DISCREPANCY:
        return await _discrepancy(conn, event, payload)
    if event.topic == Topic.SOURCE_EVENT_RECORDED and payload.get("status") == "FAILED":
        return await _failed_source_event(conn, event, payload)
    if event.topic == Topic.SHORTFALL and payload.get("reservationType") == "ORDER":
        sku = await _sku(conn, _id(payload, "productId"))
        raised = await raise_alert(conn, order_shortfall(event.sequence, payload, sku))
        return [raised] if raised else []
    return []


async def _failed_source_event(
    conn: AsyncConnection, event: Published, payload: dict[str, Any]
) -> list[Alert]:
    """A source system's event the ledger refused: its stock and onhand's now differ."""
    system, event_id = payload.get("sourceSystem"), payload.get("eventId")
    errors = payload.get("errors") or []
    why = errors[0].get("message") if errors and isinstance(errors[0], dict) else None
    draft = Draft(
        AlertKind.SOURCE_EVENT_FAILED,
        f"source-event:{_id(payload, 'sourceEventId') or event.sequence}",
        f"{system} event {event_id} ({payload.get('type')}) was refused"
        + (f": {why}" if why else ""),
        details={
            k: payload.get(k)
            for k in ("sourceEventId", "sourceSystem", "eventId", "sequence", "type", "errors")
        },
        product_id=_id(payload, "productId", event.product_id),
        warehouse_id=_id(payload, "warehouseId", event.warehouse_id),
    )
    raised = await raise_alert(conn, draft)
    return [raised] if raised else []


async def _discrepancy(
    conn: AsyncConnection, event: Published, payload: dict[str, Any]
) -> list[Alert]:
    order = _id(payload, "transferOrderId")
    discrepancy = _id(payload, "discrepancyId")
    product_id = _id(payload, "productId", event.product_id)
    warehouse_id = _id(payload, "warehouseId", event.warehouse_id)
    if discrepancy is None and order is None:
        log.warning("TRANSFER_DISCREPANCY event %s names no discrepancy; ignored", event.sequence)
        return []
    subject = (
        f"discrepancy:{discrepancy}"
        if discrepancy is not None
        else f"transfer:{order}:{product_id}:{warehouse_id}"
    )
    shipped, received = payload.get("shipped"), payload.get("received")
    details: dict[str, Any] = {
        "transferOrderId": order,
        "discrepancyId": discrepancy,
        "shipped": shipped,
        "received": received,
        "reason": payload.get("reason"),
    }
    if isinstance(shipped, int) and isinstance(received, int):
        details["quantity"] = received - shipped
    sku = await _sku(conn, product_id)
    draft = Draft(
        AlertKind.TRANSFER_DISCREPANCY,
        subject,
        f"Transfer order {number_of(order) if order else '?'}: received {received} of"
        f" {shipped} shipped units of {sku}"
        + (f" ({payload['reason']})" if payload.get("reason") else ""),
        details=details,
        product_id=product_id,
        warehouse_id=warehouse_id,
    )
    raised = await raise_alert(conn, draft)
    return [raised] if raised else []


async def _channel_code(conn: AsyncConnection, channel_id: int) -> str:
    found = (
        await conn.execute(text("SELECT code FROM channels WHERE id = :id"), {"id": channel_id})
    ).scalar()
    return str(found or channel_id)


async def _sku(conn: AsyncConnection, product_id: int | None) -> str:
    if product_id is None:
        return "an unknown product"
    found = (
        await conn.execute(text("SELECT sku FROM products WHERE id = :id"), {"id": product_id})
    ).scalar()
    return str(found or product_id)
