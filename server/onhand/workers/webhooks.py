"""The webhook loops: the enqueuer (events -> deliveries), the dispatcher (deliveries ->
HTTP POSTs) and the recorder (successes -> the database, many per transaction). All are safe to
run in any number of processes at once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.config import Settings
from onhand.db.transactions import in_transaction
from onhand.events.hub import Hub, woken
from onhand.services import Services
from onhand.webhooks import deliveries, outcomes
from onhand.webhooks.batches import claim_batches
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
# Successes written per transaction at most (one statement each, whatever the count).
RECORD_BATCH = 2000
# Bytes of an answer read at most: the start of a failure's body goes into its error, and a
# success's body is read so that its connection is kept (a longer one closes it instead).
ANSWER_BYTES = 65536


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
        # Successes waiting for the recorder; their leases hold until it writes them.
        self.succeeded: list[outcomes.Success] = []
        self.have_succeeded = asyncio.Event()

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

    async def run_dispatcher(self, http: aiohttp.ClientSession, healthy: Healthy) -> None:
        """Start the due deliveries, until cancelled (or failing: see workers/supervisor.py;
        deliveries in flight go on meanwhile)."""
        while True:
            free = self.settings.webhook_concurrency - len(self.in_flight)
            started = self._start(await self._claim(free), http)
            healthy()
            wait = POLL_SECONDS
            if started < free:
                # Nothing more is due now: sleep until the next retry is, so backoff delays
                # are kept. (With every slot filled, a finished POST wakes the loop anyway.)
                async with self.engine.connect() as conn:
                    due = await deliveries.seconds_until_due(conn, self._busy())
                if due is not None:
                    wait = min(wait, max(due, MIN_WAIT_SECONDS))
            woken_by = asyncio.ensure_future(self.new_deliveries.wait())
            try:
                await asyncio.wait(
                    [woken_by, *self.in_flight], timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
            finally:  # cancelled here too, so that no waiter outlives the loop
                woken_by.cancel()
            self.new_deliveries.clear()

    async def run_recorder(self, healthy: Healthy) -> None:
        """Write successes as they come, many per transaction, until cancelled."""
        while True:
            await self.have_succeeded.wait()
            await self.record_succeeded()
            healthy()

    async def record_succeeded(self) -> None:
        """Write the successes collected so far (a lease that runs out before they are
        written only sends them again: at least once)."""
        while self.succeeded:
            done, self.succeeded = self.succeeded[:RECORD_BATCH], self.succeeded[RECORD_BATCH:]
            async with self.engine.begin() as conn:
                await outcomes.record_successes(conn, done)
            # A batched webhook's next batch may go now.
            self.new_deliveries.set()
        self.have_succeeded.clear()

    async def _claim(self, free: int) -> list[tuple[list[Claimed], bool]]:
        """Batches of batched webhooks, and single deliveries (each a list of one); whether
        each is a batch (POSTed as an array, however many events it holds)."""
        if free <= 0:
            return []
        async with self.engine.begin() as conn:
            batches = await claim_batches(conn, free, self.lease_seconds)
            singles = await deliveries.claim(
                conn,
                free - len(batches),
                self.lease_seconds,
                self.settings.webhook_concurrency_per_endpoint,
                Counter(self.in_flight.values()),
            )
        return [(batch, True) for batch in batches] + [([d], False) for d in singles]

    @property
    def lease_seconds(self) -> float:
        return self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS

    def _busy(self) -> list[int]:
        """Webhooks with as many deliveries in flight here as one endpoint may have."""
        limit = self.settings.webhook_concurrency_per_endpoint
        return [w for w, n in Counter(self.in_flight.values()).items() if n >= limit]

    def _start(self, claimed: list[tuple[list[Claimed], bool]], http: aiohttp.ClientSession) -> int:
        for sent, batched in claimed:
            task = asyncio.create_task(self.deliver(sent, http, batched))
            self.in_flight[task] = sent[0].webhook_id
            task.add_done_callback(self.in_flight.pop)
        return len(claimed)

    async def deliver(
        self, sent: Sequence[Claimed], http: aiohttp.ClientSession, batched: bool = False
    ) -> None:
        """POST one delivery (its event's body) or a batched webhook's batch (a JSON array of
        the events' bodies, oldest first, even of one), and record what came of it."""
        first = sent[0]
        bodies = [d.body for d in sent]
        body = json.dumps(
            bodies if batched else bodies[0], separators=(",", ":"), default=str
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "onhand-webhooks",
            "X-Onhand-Delivery": ",".join(str(d.id) for d in sent),
            "X-Onhand-Event": ",".join(dict.fromkeys(d.topic for d in sent)),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(first.secret, timestamp, body),
        }
        if batched:
            headers["X-Onhand-Batch-Size"] = str(len(sent))
        elif first.sequence is not None:
            headers["X-Onhand-Sequence"] = str(first.sequence)
        status: int | None = None
        started = time.perf_counter()
        limit = self.settings.webhook_timeout_seconds
        try:
            # The whole attempt is bounded, so that it ends within its lease even against an
            # endpoint that drips. Redirects are not followed: a webhook's URL is where its
            # events go, and a 3xx is a failed attempt.
            async with (
                asyncio.timeout(limit),
                http.post(first.url, data=body, headers=headers, allow_redirects=False) as answer,
            ):
                status = answer.status
                said = await answer.content.read(ANSWER_BYTES)
            error = (
                None
                if 200 <= status < 300
                else f"HTTP {status}: {said.decode(errors='replace')[:200]}"
            )
        except aiohttp.ClientError as failure:
            error = f"{type(failure).__name__}: {failure}"
        except TimeoutError:
            error = f"no answer within {limit:g} s"
        took = round((time.perf_counter() - started) * 1000, 2)
        if log.isEnabledFor(logging.DEBUG) or error is not None:
            log.log(
                logging.DEBUG if error is None else logging.INFO,
                "webhook delivery %s of %s to webhook %s: %s",
                headers["X-Onhand-Delivery"],
                headers["X-Onhand-Event"],
                first.webhook_id,
                error or f"HTTP {status}",
                extra={
                    "run": "webhook-delivery",
                    "delivery_id": first.id,
                    "events": len(sent),
                    "webhook_id": first.webhook_id,
                    "topic": first.topic,
                    "status": status,
                    "outcome": "ok" if error is None else "failed",
                    "duration_ms": took,
                },
            )
        if error is None:
            self.succeeded += [outcomes.Success(d, status or 200, took) for d in sent]
            self.have_succeeded.set()
            return
        try:
            async with self.engine.begin() as conn:
                await outcomes.record_failure(conn, sent, self.policy, error, status, took)
        except Exception:  # the lease runs out and another attempt is made: at least once
            log.exception("could not record webhook delivery %s", headers["X-Onhand-Delivery"])


def webhook_client(settings: Settings) -> aiohttp.ClientSession:
    """The dispatcher's HTTP client: aiohttp, which POSTs about twenty times as many small
    requests a second as httpx did here with the same number in flight (BENCHMARKS.md). One
    connection per delivery in flight at most. The environment's proxy and netrc settings are
    not read: aiohttp would look them up for every request."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.webhook_concurrency),
    )


@contextlib.asynccontextmanager
async def webhook_workers(services: Services) -> AsyncIterator[None]:
    """Run the webhook loops inside the server, unless workers run elsewhere."""
    if not services.settings.run_workers_in_server:
        yield
        return
    worker = WebhookWorker(services.engine, services.settings, services.hub)
    async with webhook_client(services.settings) as http:
        loops: dict[str, LoopBody] = {
            "webhook-enqueuer": worker.run_enqueuer,
            "webhook-dispatcher": functools.partial(worker.run_dispatcher, http),
            "webhook-recorder": worker.run_recorder,
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
            # What was sent and answered is written rather than sent again by the next process.
            with contextlib.suppress(Exception):
                await worker.record_succeeded()
