"""Webhook deliveries: made from published events exactly once, sent at least once.

The enqueuer turns each published event into one delivery per matching webhook, moving a
single cursor in the same transaction (whoever holds the cursor's row lock does it, so any
number of processes may run it). Dispatchers claim due deliveries with FOR UPDATE SKIP LOCKED
and a lease, POST them signed, and record the outcome: success, a retry later (exponential
backoff), or dead-lettered after the last retry. A webhook that keeps failing opens its circuit:
its deliveries wait, without using up their attempts, until it closes.

Lock order: a webhook's row before its deliveries' rows. Deleting a webhook locks it, then its
deliveries (the cascade); so recording an attempt updates the webhook first, then the
delivery, and the enqueuer locks the webhooks it makes deliveries for before inserting them.
A transaction that took them the other way round could deadlock with a delete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.core.records import FromRow
from onhand.db.event_tables import webhook_deliveries, webhook_delivery_attempts, webhooks
from onhand.events.envelope import Published
from onhand.events.payloads import event_body
from onhand.events.store import events_after, latest_sequence

PENDING, SUCCEEDED, DEAD = "PENDING", "SUCCEEDED", "DEAD"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    delay_seconds: float
    backoff: float
    failures_to_open: int = 5
    open_seconds: float = 30.0

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1 s, 2 s, 4 s, ...)."""
        return self.delay_seconds * self.backoff ** (attempts - 1)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    webhook_id: int
    url: str
    secret: str
    topic: str
    sequence: int | None
    body: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class Delivery(FromRow):
    id: int
    webhook_id: int
    sequence: int | None
    topic: str
    body: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


def matches(hook: Any, event: Published, channel_warehouses: dict[int, set[int]]) -> bool:
    if event.topic not in hook.topics:
        return False
    if hook.channel_id is None:
        return True
    if event.channel_id is not None:
        return bool(event.channel_id == hook.channel_id)
    return event.warehouse_id in channel_warehouses.get(hook.channel_id, set())


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What one `enqueue` did: events taken past the cursor, deliveries made of them."""

    events: int = 0
    deliveries: int = 0
    full: bool = False  # a whole batch was taken: more may be waiting


async def enqueue(conn: AsyncConnection, batch: int = 500) -> Enqueued:
    """Make the deliveries of the next published events (nothing taken: nothing new, or
    another process holds the cursor)."""
    cursor = (
        await conn.execute(
            text("SELECT last_sequence FROM webhook_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED")
        )
    ).scalar()
    if cursor is None:
        return Enqueued()
    # With no webhook to deliver to, the cursor skips to the last published event without
    # reading any. Read before looking for webhooks: a webhook made after that look was made
    # after these events were published, and is owed none of them.
    published = await latest_sequence(conn)
    if not (await conn.execute(_ANY_ACTIVE_WEBHOOK)).scalar_one():
        if published <= cursor:
            return Enqueued()
        await conn.execute(_ADVANCE, {"s": published})
        return Enqueued(events=int(published - cursor))
    events = await events_after(conn, cursor, batch)
    if not events:
        return Enqueued()
    # Key-share locks: a webhook being deleted meanwhile is waited for and then left out,
    # rather than getting deliveries that its foreign key refuses.
    hooks = (
        await conn.execute(
            select(webhooks)
            .where(webhooks.c.is_active)
            .order_by(webhooks.c.id)
            .with_for_update(key_share=True)
        )
    ).all()
    channel_warehouses = await _channel_warehouses(conn, {h.channel_id for h in hooks})
    rows = [
        {"webhook_id": hook.id, "sequence": e.sequence, "topic": e.topic, "body": event_body(e)}
        for e in events
        for hook in hooks
        if matches(hook, e, channel_warehouses)
    ]
    if rows:
        await conn.execute(
            text(
                "INSERT INTO webhook_deliveries (webhook_id, sequence, topic, body)"
                " SELECT * FROM unnest(CAST(:w AS bigint[]), CAST(:s AS bigint[]),"
                " CAST(:t AS text[]), CAST(:b AS jsonb[]))"
                " ON CONFLICT (webhook_id, sequence) DO NOTHING"
            ),
            {
                "w": [r["webhook_id"] for r in rows],
                "s": [r["sequence"] for r in rows],
                "t": [r["topic"] for r in rows],
                "b": [json.dumps(r["body"], default=str) for r in rows],
            },
        )
    await conn.execute(_ADVANCE, {"s": events[-1].sequence})
    return Enqueued(events=len(events), deliveries=len(rows), full=len(events) >= batch)


_ANY_ACTIVE_WEBHOOK = text("SELECT EXISTS (SELECT 1 FROM webhooks WHERE is_active)")
_ADVANCE = text("UPDATE webhook_cursor SET last_sequence = :s WHERE id = 1")


async def _channel_warehouses(
    conn: AsyncConnection, channel_ids: set[int | None]
) -> dict[int, set[int]]:
    """The warehouses that fulfil each channel (a channel's stock events come from them)."""
    wanted = [c for c in channel_ids if c is not None]
    if not wanted:
        return {}
    exists = (await conn.execute(text("SELECT to_regclass('channel_warehouses')"))).scalar()
    if exists is None:
        return {}
    rows = await conn.execute(
        text(
            "SELECT channel_id, warehouse_id FROM channel_warehouses"
            " WHERE channel_id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": wanted},
    )
    found: dict[int, set[int]] = {}
    for channel_id, warehouse_id in rows:
        found.setdefault(channel_id, set()).add(warehouse_id)
    return found


# Each webhook's due deliveries are read from the due index in its order, as many as the
# webhook has room for in flight, and the oldest of all are taken: a claim reads about what it
# takes, however long one endpoint's backlog (ordered over every webhook at once, a claim
# passed over each delivery of a webhook with no room left).
_CLAIM = text(
    """
    WITH room AS (
        SELECT w.id, CAST(:per_webhook AS integer) - coalesce(f.n, 0) AS n FROM webhooks w
        LEFT JOIN unnest(CAST(:flying AS bigint[]), CAST(:counts AS integer[])) AS f(id, n)
            ON f.id = w.id
        WHERE w.is_active AND w.max_events_per_delivery = 1
          AND (w.circuit_open_until IS NULL OR w.circuit_open_until <= now())
    ),
    due AS (
        SELECT d.id FROM room CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
            WHERE d.webhook_id = room.id AND d.status = 'PENDING' AND d.next_attempt_at <= now()
              AND (d.locked_until IS NULL OR d.locked_until < now())
            ORDER BY d.webhook_id, d.next_attempt_at, d.id
            LIMIT greatest(room.n, 0)
            FOR UPDATE OF d SKIP LOCKED
        ) d
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
    )
    UPDATE webhook_deliveries d
    SET locked_until = now() + CAST(:lease AS double precision) * interval '1 second',
        attempts = d.attempts + 1
    FROM due, webhooks w
    WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING d.id, d.webhook_id, w.url, w.secret, d.topic, d.sequence, d.body, d.attempts
    """
)


async def claim(
    conn: AsyncConnection,
    limit: int,
    lease_seconds: float,
    per_webhook: int,
    in_flight: Mapping[int, int] | None = None,
) -> list[Claimed]:
    """Due deliveries of webhooks that take one event per POST, leased to the caller: up to
    `limit`, and up to `per_webhook` in flight per webhook counting the caller's `in_flight`
    ones (by webhook id). Batched webhooks' deliveries are claimed by `batches.claim_batches`."""
    flying = in_flight or {}
    rows = await conn.execute(
        _CLAIM,
        {
            "limit": limit,
            "lease": lease_seconds,
            "per_webhook": per_webhook,
            "flying": list(flying),
            "counts": list(flying.values()),
        },
    )
    return [Claimed(**row._mapping) for row in rows]


# A batched webhook waits on its oldest pending delivery (its head): the head's retry time and
# lease hold back everything after it, so batches go out in order.
_DUE = text(
    """
    SELECT EXTRACT(EPOCH FROM min(due) - now()) FROM (
        SELECT GREATEST(h.next_attempt_at, coalesce(w.circuit_open_until, '-infinity')) AS due
        FROM webhooks w CROSS JOIN LATERAL (
            SELECT d.next_attempt_at FROM webhook_deliveries d
            WHERE d.webhook_id = w.id AND d.status = 'PENDING'
              AND (d.locked_until IS NULL OR d.locked_until < now())
            ORDER BY d.webhook_id, d.next_attempt_at, d.id LIMIT 1
        ) h
        WHERE w.is_active AND w.max_events_per_delivery = 1
          AND NOT (w.id = ANY(CAST(:busy AS bigint[])))
        UNION ALL
        SELECT GREATEST(h.next_attempt_at, coalesce(h.locked_until, '-infinity'),
                coalesce(w.circuit_open_until, '-infinity'),
                coalesce(w.batch_leased_until, '-infinity'))
        FROM webhooks w CROSS JOIN LATERAL (
            SELECT d.next_attempt_at, d.locked_until FROM webhook_deliveries d
            WHERE d.webhook_id = w.id AND d.status = 'PENDING'
            ORDER BY d.webhook_id, d.id LIMIT 1
        ) h
        WHERE w.is_active AND w.max_events_per_delivery > 1
    ) pending
    """
)


async def seconds_until_due(conn: AsyncConnection, busy: Sequence[int] = ()) -> float | None:
    """How long until a pending delivery can next be claimed (None: nothing pending): its
    retry time and its webhook's open circuit (and, for a batched webhook, its head's lease
    and its batch's lease) all have to have passed. A single delivery leased to an attempt
    under way is not waited for: its attempt ends it, and a lease left by a process that died
    is found by the dispatcher's next look (every POLL_SECONDS at most)."""
    found = (await conn.execute(_DUE, {"busy": list(busy)})).scalar()
    return None if found is None else max(0.0, float(found))


@dataclass(frozen=True, slots=True)
class Attempt(FromRow):
    """One POST of a delivery: when, what came back, how long it took."""

    id: int
    delivery_id: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float | None


async def attempts_of(conn: AsyncConnection, delivery_ids: list[int]) -> dict[int, list[Attempt]]:
    """Each delivery's attempts, oldest first (retries of a dead delivery included)."""
    rows = await conn.execute(
        select(webhook_delivery_attempts)
        .where(webhook_delivery_attempts.c.delivery_id.in_(delivery_ids))
        .order_by(webhook_delivery_attempts.c.id)
    )
    found: dict[int, list[Attempt]] = {i: [] for i in delivery_ids}
    for row in rows:
        found[row.delivery_id].append(Attempt.from_row(row))
    return found


async def retry(conn: AsyncConnection, delivery_id: int) -> Delivery:
    """Send a delivery again: a dead-lettered one gets a full set of attempts (`attempts`
    counts from 0 again), its earlier attempts staying in its history."""
    row = (
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(status=PENDING, attempts=0, next_attempt_at=text("now()"), locked_until=None)
            .returning(webhook_deliveries)
        )
    ).first()
    if row is None:
        raise DomainError.of(
            ErrorCode.NOT_FOUND, f"webhook delivery {delivery_id} does not exist", "id"
        )
    return Delivery.from_row(row)


async def deliveries_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Delivery]:
    rows = await conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id.in_(ids)))
    return {row.id: Delivery.from_row(row) for row in rows}


def delivery_listing(webhook_id: int | None = None, status: str | None = None) -> Listing:
    query = select(webhook_deliveries)
    if webhook_id is not None:
        query = query.where(webhook_deliveries.c.webhook_id == webhook_id)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    return Listing(query, webhook_deliveries.c.id, descending=True)
