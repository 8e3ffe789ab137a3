"""Keeping the background loops running: the event hub, the outbox relay, the webhook loops
and the scheduled loops of runner.py.

A loop is a coroutine that runs until it is cancelled. Whatever ends it otherwise (an
exception, a database outage, a stray cancellation, a plain return) is the supervisor's
business: it logs the failure once, with the loop's name and the error, waits (0.1 s, doubling
up to MAX_BACKOFF_SECONDS while the loop keeps failing) and runs the loop again. A loop says
that it is doing its work by calling the `healthy` callback it is given; the first call after a
failure logs that the loop recovered and resets the wait. So an outage of an hour logs two
lines per loop, not one per retry, and no loop stays dead.

Between a failure and the restart the loop is not running: `not_running()` names such loops
for /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from onhand.core.failures import Failures

log = logging.getLogger(__name__)

STOP_RECHECK_SECONDS = 1.0

Healthy = Callable[[], None]
LoopBody = Callable[[Healthy], Awaitable[None]]


class LoopEndedError(RuntimeError):
    """A loop returned or was cancelled while nobody was stopping it."""


@dataclass(eq=False)
class _Supervised:
    name: str
    body: LoopBody
    failures: Failures
    running: bool = False
    task: asyncio.Task[None] | None = None


class Supervisor:
    """The background loops of this process, each kept running until its block ends."""

    def __init__(self) -> None:
        self._loops: dict[str, _Supervised] = {}

    @contextlib.asynccontextmanager
    async def supervise(self, bodies: Mapping[str, LoopBody]) -> AsyncIterator[None]:
        """Run each loop (by name) until the block ends, restarting it whenever it fails."""
        loops = [
            _Supervised(name, body, Failures(f"background loop {name}"))
            for name, body in bodies.items()
        ]
        for loop in loops:
            if loop.name in self._loops:
                raise ValueError(f"background loop {loop.name} is running already")
            self._loops[loop.name] = loop
            loop.task = asyncio.create_task(self._keep_running(loop), name=f"onhand-{loop.name}")
        try:
            yield
        finally:
            await _stop([loop.task for loop in loops if loop.task is not None])
            for loop in loops:
                del self._loops[loop.name]

    def not_running(self) -> list[str]:
        """The loops waiting to be restarted after a failure (or, should the supervision
        itself have ended, no longer kept running at all)."""
        return sorted(
            loop.name
            for loop in self._loops.values()
            if not loop.running or loop.task is None or loop.task.done()
        )

    async def _keep_running(self, loop: _Supervised) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            loop.running = True
            try:
                await loop.body(loop.failures.recovered)
                error: BaseException = LoopEndedError("the loop returned")
            except asyncio.CancelledError as cancelled:
                if task.cancelling():
                    raise  # stopped by its owner
                error = LoopEndedError(f"the loop was cancelled from within: {cancelled}")
            except Exception as failure:
                error = failure
            finally:
                loop.running = False
            await asyncio.sleep(loop.failures.failed(error))


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait for their end, cancelling again any that lives on: on Python
    3.11, asyncio.wait_for swallows a cancellation that meets its result at the same moment,
    and a loop would then run on and keep the process from stopping."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=STOP_RECHECK_SECONDS)
