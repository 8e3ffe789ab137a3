"""Recording what came of POSTs: successes many at a time, failures per webhook.

A success is the common case and needs no decision, so a dispatcher collects them and writes
them in one transaction (three statements, however many deliveries): one transaction per
delivery capped delivery near the database's commit rate. A failure decides a retry time, a
dead letter and perhaps an open circuit, and is rare: it is written at once.

Lock order (as in deliveries.py): webhooks' rows before their deliveries' rows, webhooks in id
order, so two processes recording at once cannot deadlock with each other or with a delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.events import outbox
from onhand.events.payloads import global_id
from onhand.inventory.alerts.model import AlertKind, alert_event
from onhand.inventory.alerts.rules import Draft, raise_alert
from onhand.webhooks.deliveries import DEAD, PENDING, Claimed, RetryPolicy


@dataclass(frozen=True, slots=True)
class Success:
    delivery: Claimed
    status_code: int
    duration_ms: float | None = None


_LOCK_WEBHOOKS = text(
    "SELECT id FROM webhooks WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE"
)
_WEBHOOKS_SUCCEEDED = text(
    "UPDATE webhooks SET consecutive_failures = 0, circuit_open_until = NULL,"
    " last_success_at = now(), batch_leased_until = NULL"
    " WHERE id = ANY(CAST(:ids AS bigint[]))"
)
# Deliveries gone meanwhile (their webhook deleted: they cascade) update nothing and so get no
# attempt row either.
_DELIVERIES_SUCCEEDED = text(
    """
    WITH done AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:codes AS integer[]),
            CAST(:ms AS double precision[])) AS t(id, code, ms)
    ),
    updated AS (
        UPDATE webhook_deliveries d SET status = 'SUCCEEDED', delivered_at = now(),
            locked_until = NULL, last_status_code = done.code, last_error = NULL
        FROM done WHERE d.id = done.id
        RETURNING d.id
    )
    INSERT INTO webhook_delivery_attempts (delivery_id, status_code, error, duration_ms)
    SELECT done.id, done.code, NULL, done.ms FROM done JOIN updated USING (id)
    ORDER BY done.id
    """
)


async def record_successes(conn: AsyncConnection, done: Sequence[Success]) -> None:
    """Mark these deliveries SUCCEEDED, with an attempt each, and close their webhooks'
    circuits (and release batched webhooks' leases)."""
    if not done:
        return
    hooks = sorted({s.delivery.webhook_id for s in done})
    await conn.execute(_LOCK_WEBHOOKS, {"ids": hooks})
    await conn.execute(_WEBHOOKS_SUCCEEDED, {"ids": hooks})
    ordered = sorted(done, key=lambda s: s.delivery.id)
    await conn.execute(
        _DELIVERIES_SUCCEEDED,
        {
            "ids": [s.delivery.id for s in ordered],
            "codes": [s.status_code for s in ordered],
            "ms": [s.duration_ms for s in ordered],
        },
    )


_WEBHOOK_FAILED = text(
    "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1,"
    " last_failure_at = now(), batch_leased_until = NULL,"
    " circuit_open_until = CASE WHEN consecutive_failures + 1 >= :threshold"
    "   THEN now() + CAST(:open AS double precision) * interval '1 second'"
    "   ELSE circuit_open_until END"
    " WHERE id = :id"
)
_DELIVERY_FAILED = text(
    "UPDATE webhook_deliveries SET status = :status, locked_until = NULL,"
    " last_error = :error, last_status_code = :code,"
    " next_attempt_at = now() + CAST(:delay AS double precision) * interval '1 second'"
    " WHERE id = :id"
)
_RECORD_ATTEMPT = text(
    "INSERT INTO webhook_delivery_attempts (delivery_id, status_code, error, duration_ms)"
    " SELECT id, :code, :error, :ms FROM webhook_deliveries WHERE id = :id"
)


async def record_failure(
    conn: AsyncConnection,
    sent: Sequence[Claimed],
    policy: RetryPolicy,
    error: str,
    status_code: int | None,
    duration_ms: float | None = None,
) -> None:
    """One failed POST of one webhook's deliveries (one, or a batch): each waits for its
    retry, or is dead-lettered after its last one. One failure for the circuit breaker,
    however many events the POST carried."""
    if not sent:
        return
    # The webhook first, then the deliveries: the lock order (see above).
    await conn.execute(
        _WEBHOOK_FAILED,
        {
            "threshold": policy.failures_to_open,
            "open": policy.open_seconds,
            "id": sent[0].webhook_id,
        },
    )
    dead: list[Claimed] = []
    for delivery in sorted(sent, key=lambda d: d.id):
        exhausted = delivery.attempts > policy.max_retries
        await conn.execute(
            _DELIVERY_FAILED,
            {
                "status": DEAD if exhausted else PENDING,
                "error": error[:1000],
                "code": status_code,
                "delay": 0 if exhausted else policy.delay_after(delivery.attempts),
                "id": delivery.id,
            },
        )
        # Last: with the rows locked, a webhook deleted meanwhile has taken its deliveries
        # along before (nothing is recorded) or waits for this transaction.
        await conn.execute(
            _RECORD_ATTEMPT,
            {"id": delivery.id, "code": status_code, "error": error[:1000], "ms": duration_ms},
        )
        if exhausted:
            dead.append(delivery)
    if dead:
        await _alert_dead(conn, dead[0], error, status_code)


async def _alert_dead(
    conn: AsyncConnection, delivery: Claimed, error: str, status_code: int | None
) -> None:
    """Dead-lettered: the receiver missed an event until someone retries it. One alert per
    webhook stays open however many deliveries die meanwhile."""
    draft = Draft(
        AlertKind.WEBHOOK_DEAD,
        f"webhook:{delivery.webhook_id}",
        f"Webhook {global_id('Webhook', delivery.webhook_id)} ({delivery.url}) missed"
        f" {delivery.topic} after {delivery.attempts} attempts: {error[:200]}",
        details={
            "webhookId": delivery.webhook_id,
            "deliveryId": delivery.id,
            "url": delivery.url,
            "topic": delivery.topic,
            "sequence": delivery.sequence,
            "attempts": delivery.attempts,
            "lastError": error[:1000],
            "lastStatusCode": status_code,
        },
    )
    raised = await raise_alert(conn, draft)
    if raised is not None:
        await outbox.append(conn, [alert_event(raised)])
