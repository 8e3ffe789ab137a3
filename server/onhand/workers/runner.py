"""Background loops: run inside each server (ONHAND_RUN_WORKERS_IN_SERVER, the default) or
alone with `onhand worker`.

A loop is a named step run over and over. Every step must be safe to run in any number of
processes at once (claim work with FOR UPDATE SKIP LOCKED, or hold an advisory lock for a
singleton), so that servers and workers can be added freely. A step returns how long to wait
before the next run: 0 when more work is waiting, None for the loop's usual interval. A step
that fails is the supervisor's business (workers/supervisor.py): logged once, retried with
backoff, so one bad moment never stops a loop. Other parts of onhand add their loops to LOOPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from onhand.config import Settings
from onhand.services import Services
from onhand.workers import channel_sync
from onhand.workers.alerter import POLL_SECONDS as ALERT_POLL_SECONDS
from onhand.workers.alerter import alert_step
from onhand.workers.demand_buffers import POLL_SECONDS as DEMAND_BUFFER_POLL_SECONDS
from onhand.workers.demand_buffers import recompute_step
from onhand.workers.partition_upkeep import upkeep_step
from onhand.workers.reconciler import reconcile_step
from onhand.workers.supervisor import Healthy
from onhand.workers.sweeper import sweep

log = logging.getLogger(__name__)

Step = Callable[[Services], Awaitable[float | None]]


@dataclass(frozen=True)
class Loop:
    name: str
    step: Step
    interval: Callable[[Settings], float]
    enabled: Callable[[Settings], bool] = lambda settings: True


LOOPS: list[Loop] = [
    Loop("reservation-sweeper", sweep, lambda settings: settings.sweeper_interval_seconds),
    Loop(
        "reconciler",
        reconcile_step,
        lambda settings: settings.reconciliation_interval_minutes * 60,
        enabled=lambda settings: settings.reconciliation_interval_minutes > 0,
    ),
    Loop("channel-sync", channel_sync.schedule, lambda settings: channel_sync.POLL_SECONDS),
    Loop("alert-evaluator", alert_step, lambda settings: ALERT_POLL_SECONDS),
    Loop(
        "demand-buffers",
        recompute_step,
        lambda settings: DEMAND_BUFFER_POLL_SECONDS,
        enabled=lambda settings: settings.demand_buffer_interval_minutes > 0,
    ),
    Loop("partition-upkeep", upkeep_step, lambda settings: settings.partition_upkeep_minutes * 60),
]


def selected(names: Sequence[str] | None = None) -> list[Loop]:
    if not names:
        return list(LOOPS)
    known = {loop.name: loop for loop in LOOPS}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown loops {unknown}; known: {sorted(known)}")
    return [known[name] for name in names]


async def run_loop(loop: Loop, services: Services, healthy: Healthy) -> None:
    """The loop's steps, one after another, until cancelled or a step fails."""
    interval = loop.interval(services.settings)
    while True:
        wait = await loop.step(services)
        healthy()
        delay = interval if wait is None else min(max(wait, 0.0), interval)
        if delay > 0:
            await asyncio.sleep(delay)


@contextlib.asynccontextmanager
async def running(services: Services, loops: Sequence[Loop]) -> AsyncIterator[None]:
    """Run the loops, kept running by the services' supervisor, until the block ends."""
    bodies = {loop.name: functools.partial(run_loop, loop, services) for loop in loops}
    async with services.supervisor.supervise(bodies):
        yield


@contextlib.asynccontextmanager
async def background_workers(services: Services) -> AsyncIterator[None]:
    """The app component: the loops run inside the server unless workers run elsewhere."""
    if not services.settings.run_workers_in_server:
        yield
        return
    async with running(services, [loop for loop in LOOPS if loop.enabled(services.settings)]):
        yield


async def work(settings: Settings, database_url: str, names: Sequence[str] | None = None) -> None:
    """`onhand worker`: the loops alone, until SIGINT or SIGTERM."""
    from onhand.auth.authenticator import Authenticator
    from onhand.db.engine import create_engine
    from onhand.workers.event_stream import event_stream
    from onhand.workers.webhooks import webhook_workers

    loops = [loop for loop in selected(names) if loop.enabled(settings)]
    # With no loop named, a worker does all the background work a server would: the outbox
    # relay and webhook delivery too, so that servers may run with RUN_WORKERS_IN_SERVER off.
    everything = not names
    settings = settings.model_copy(update={"run_workers_in_server": True})
    engine = create_engine(database_url, settings)
    services = Services(
        settings=settings,
        engine=engine,
        authenticator=Authenticator(engine, settings.token_cache_seconds),
        database_url=database_url,
    )
    try:
        async with contextlib.AsyncExitStack() as stack:
            if everything:
                await stack.enter_async_context(event_stream(services))
                await stack.enter_async_context(webhook_workers(services))
            await stack.enter_async_context(running(services, loops))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            log.info("onhand worker running: %s", ", ".join(loop.name for loop in loops))
            await stop.wait()
    finally:
        await services.dispose()
