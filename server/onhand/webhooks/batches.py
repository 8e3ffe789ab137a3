"""Claiming batches for webhooks that take several events per POST.

A batched webhook (max_events_per_delivery > 1) gets its pending deliveries in order: a batch
is its oldest pending deliveries (up to its size), and the next batch is claimed only once the
last one is recorded (a lease on the webhook's row says one is on its way). A failed batch
keeps its place at the head: it is retried, after its backoff, before anything newer is sent.
A delivery that runs out of attempts is dead-lettered and the ones after it go on; a dead
delivery retried by an operator becomes the head again (the oldest pending) and goes next.

Two processes cannot both claim a webhook's batch: the claim locks and updates the webhook's
row (its lease), and a process that finds the row changed re-reads it and sees the lease.
"""

from __future__ import annotations

from itertools import groupby

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.webhooks.deliveries import Claimed

_CLAIM_BATCHES = text(
    """
    WITH ready AS (
        SELECT w.id FROM webhooks w
        WHERE w.is_active AND w.max_events_per_delivery > 1
          AND (w.circuit_open_until IS NULL OR w.circuit_open_until <= now())
          AND (w.batch_leased_until IS NULL OR w.batch_leased_until < now())
          AND (
              SELECT d.next_attempt_at <= now()
                  AND (d.locked_until IS NULL OR d.locked_until < now())
              FROM webhook_deliveries d
              WHERE d.webhook_id = w.id AND d.status = 'PENDING'
              ORDER BY d.webhook_id, d.id LIMIT 1
          )
        ORDER BY w.id
        LIMIT :limit
        FOR NO KEY UPDATE OF w SKIP LOCKED
    ),
    leased AS (
        UPDATE webhooks w
        SET batch_leased_until = now() + CAST(:lease AS double precision) * interval '1 second'
        FROM ready WHERE w.id = ready.id
        RETURNING w.id, w.url, w.secret, w.max_events_per_delivery AS size
    ),
    batch AS (
        SELECT b.id, l.url, l.secret FROM leased l CROSS JOIN LATERAL (
            SELECT d.id FROM webhook_deliveries d
            WHERE d.webhook_id = l.id AND d.status = 'PENDING'
            ORDER BY d.webhook_id, d.id LIMIT l.size
            FOR UPDATE OF d
        ) b
    )
    SELECT id, url, secret FROM batch
    """
)


# By id, after the rows are locked: joined to the batch instead, the planner reads the whole
# table to hash it.
_LEASE_DELIVERIES = text(
    """
    UPDATE webhook_deliveries d
    SET locked_until = now() + CAST(:lease AS double precision) * interval '1 second',
        attempts = d.attempts + 1
    WHERE d.id = ANY(CAST(:ids AS bigint[]))
    RETURNING d.id, d.webhook_id, d.topic, d.sequence, d.body, d.attempts
    """
)


async def claim_batches(
    conn: AsyncConnection, limit: int, lease_seconds: float
) -> list[list[Claimed]]:
    """The next batch of up to `limit` batched webhooks, each oldest first, leased to the
    caller."""
    if limit <= 0:
        return []
    chosen = {
        row.id: row
        for row in await conn.execute(_CLAIM_BATCHES, {"limit": limit, "lease": lease_seconds})
    }
    if not chosen:
        return []
    rows = await conn.execute(_LEASE_DELIVERIES, {"ids": list(chosen), "lease": lease_seconds})
    claimed = sorted(
        (
            Claimed(url=chosen[row.id].url, secret=chosen[row.id].secret, **row._mapping)
            for row in rows
        ),
        key=lambda c: (c.webhook_id, c.id),
    )
    return [list(batch) for _, batch in groupby(claimed, key=lambda c: c.webhook_id)]
