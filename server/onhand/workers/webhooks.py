"""The webhook loops: the enqueuer (events -> deliveries) and the dispatcher (deliveries ->
HTTP POSTs). Both are safe to run in any number of processes at once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.config import Settings
from onhand.db.transactions import in_transaction
from onhand.events.hub import Hub, woken
from onhand.services import Services
from onhand.webhooks import deliveries
from onhand.webhooks.deliveries import Claimed, RetryPolicy
from onhand.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from onhand.workers.supervisor import Healthy, LoopBody

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
MIN_WAIT_SECONDS = 0.01
# A claimed delivery is leased for its attempt's time limit (webhook_timeout_seconds) and
# this much more to record the outcome: a process that dies mid-attempt delays the next
# attempt, made by any process, by about that long.
LEASE_MARGIN_SECONDS = 5.0


class WebhookWorker:
    def __init__(self, engine: AsyncEngine, settings: Settings, hub: Hub | None) -> None:
        self.engine = engine
        self.settings = settings
        self.policy = RetryPolicy(
            max_retries=settings.retry_max,
            delay_seconds=settings.retry_delay_seconds,
            backoff=settings.retry_backoff,
            failures_to_open=settings.webhook_failures_to_open,
            open_seconds=settings.webhook_open_seconds,
        )
        self.new_events = hub.watch() if hub else asyncio.Event()
        self.new_deliveries = asyncio.Event()
        self.in_flight: dict[asyncio.Task[None], int] = {}

    async def run_enqueuer(self, healthy: Healthy) -> None:
        """Turn published events into deliveries, until cancelled (or failing: see
        workers/supervisor.py)."""
        while True:
            taken = await in_transaction(self.engine, deliveries.enqueue)
            healthy()
            if taken.deliveries:
                self.new_deliveries.set()
            if not taken.full:
                await woken(self.new_events, POLL_SECONDS)

    async def run_dispatcher(self, http: httpx.AsyncClient, healthy: Healthy) -> None:
        """Start the due deliveries, until cancelled (or failing: see workers/supervisor.py;
        deliveries in flight go on meanwhile)."""
        while True:
            self._claim_and_start(await self._claim(), http)
            async with self.engine.connect() as conn:
                due = await deliveries.seconds_until_due(conn, self._busy())
            healthy()
            wait = POLL_SECONDS
            if due is not None:
                # Sleep until the next retry is due, so backoff delays are kept.
                wait = min(wait, max(due, MIN_WAIT_SECONDS))
            waits = [asyncio.ensure_future(self.new_deliveries.wait()), *self.in_flight]
            await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            waits[0].cancel()
            self.new_deliveries.clear()

    async def _claim(self) -> list[Claimed]:
        free = self.settings.webhook_concurrency - len(self.in_flight)
        if free <= 0:
            return []
        async with self.engine.begin() as conn:
            return await deliveries.claim(conn, free, self.lease_seconds, self._busy())

    @property
    def lease_seconds(self) -> float:
        return self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS

    def _busy(self) -> list[int]:
        """Webhooks with as many deliveries in flight here as one endpoint may have."""
        limit = self.settings.webhook_concurrency_per_endpoint
        return [w for w, n in Counter(self.in_flight.values()).items() if n >= limit]

    def _claim_and_start(self, claimed: list[Claimed], http: httpx.AsyncClient) -> None:
        for delivery in claimed:
            task = asyncio.create_task(self.deliver(delivery, http))
            self.in_flight[task] = delivery.webhook_id
            task.add_done_callback(self.in_flight.pop)

    async def deliver(self, delivery: Claimed, http: httpx.AsyncClient) -> None:
        body = json.dumps(delivery.body, separators=(",", ":"), default=str).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "onhand-webhooks",
            "X-Onhand-Delivery": str(delivery.id),
            "X-Onhand-Event": delivery.topic,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(delivery.secret, timestamp, body),
        }
        if delivery.sequence is not None:
            headers["X-Onhand-Sequence"] = str(delivery.sequence)
        status: int | None = None
        started = time.perf_counter()
        limit = self.settings.webhook_timeout_seconds
        try:
            # httpx's timeout bounds each wait (connect, each read); this bounds the whole
            # attempt, so that it ends within its lease even against an endpoint that drips.
            async with asyncio.timeout(limit):
                response = await http.post(delivery.url, content=body, headers=headers)
            status = response.status_code
            error = None if response.is_success else f"HTTP {status}: {response.text[:200]}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
        except TimeoutError:
            error = f"no answer within {limit:g} s"
        log.info(
            "webhook delivery %s of %s to webhook %s: %s",
            delivery.id,
            delivery.topic,
            delivery.webhook_id,
            error or f"HTTP {status}",
            extra={
                "run": "webhook-delivery",
                "delivery_id": delivery.id,
                "webhook_id": delivery.webhook_id,
                "topic": delivery.topic,
                "status": status,
                "outcome": "ok" if error is None else "failed",
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        took = round((time.perf_counter() - started) * 1000, 2)
        try:
            async with self.engine.begin() as conn:
                if error is None:
                    await deliveries.record_success(conn, delivery, status or 200, took)
                else:
                    await deliveries.record_failure(
                        conn, delivery, self.policy, error, status, took
                    )
        except Exception:  # the lease runs out and another attempt is made: at least once
            log.exception("could not record webhook delivery %s", delivery.id)


@contextlib.asynccontextmanager
async def webhook_workers(services: Services) -> AsyncIterator[None]:
    """Run the webhook loops inside the server, unless workers run elsewhere."""
    if not services.settings.run_workers_in_server:
        yield
        return
    worker = WebhookWorker(services.engine, services.settings, services.hub)
    async with httpx.AsyncClient(timeout=services.settings.webhook_timeout_seconds) as http:
        loops: dict[str, LoopBody] = {
            "webhook-enqueuer": worker.run_enqueuer,
            "webhook-dispatcher": functools.partial(worker.run_dispatcher, http),
        }
        try:
            async with services.supervisor.supervise(loops):
                yield
        finally:
            for task in list(worker.in_flight):
                task.cancel()
            for task in list(worker.in_flight):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
