"""Group commit: units of work on the same key that arrive while earlier ones are being written
wait a moment, then are written together in one transaction, each inside a savepoint of its own.

On a hot row every writer takes the same row lock and holds it until its commit is on disk;
written one by one, throughput is one commit (an fsync and a few round trips) per request.
Written together, the lock and the commit are paid once per batch. Under light load nothing
waits: a unit finding no batch in flight for its key starts one at once, alone.

Each unit still succeeds or fails on its own: a DomainError rolls back its savepoint only, and
the others of the batch commit. Results are handed out only after the commit. Should a unit
fail otherwise, the batch is rolled back and its units are run again one by one, each in its
own transaction, so that one bad unit cannot fail the others; a failure of the commit itself
is reported to every caller and nothing is run again (it may have taken effect).

Keep keys narrow (one row, say): batches on different keys then never wait on each other's
locks, so coalescing cannot add deadlocks between them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.core.errors import DomainError
from onhand.db.transactions import RETRYABLE, in_transaction, sqlstate

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[T]]

MAX_BATCH = 200  # units per transaction
# One batch in flight per key and process: two would only queue on the same row lock, and
# could deadlock on an idempotency key that one holds and the other waits for.
PIPELINES = 1


class _UnitFailedError(Exception):
    """A unit of a batch failed with something other than a DomainError: the batch's
    transaction was rolled back, so each unit may safely be run again alone."""


@dataclass
class _Unit(Generic[T]):
    work: Work[T]
    exclusive: Hashable | None  # units with the same token never share a batch
    future: asyncio.Future[T] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Queue:
    def __init__(self, owner: GroupCommit, key: Hashable) -> None:
        self.owner = owner
        self.key = key
        self.waiting: list[_Unit[Any]] = []
        self.in_flight = 0

    def add(self, unit: _Unit[Any]) -> None:
        self.waiting.append(unit)
        if self.in_flight < PIPELINES:
            self.in_flight += 1
            asyncio.get_running_loop().create_task(self._drain())

    def _take(self) -> list[_Unit[Any]]:
        batch: list[_Unit[Any]] = []
        tokens: set[Hashable] = set()
        kept: list[_Unit[Any]] = []
        for unit in self.waiting:
            if len(batch) >= MAX_BATCH or (unit.exclusive is not None and unit.exclusive in tokens):
                kept.append(unit)
                continue
            batch.append(unit)
            if unit.exclusive is not None:
                tokens.add(unit.exclusive)
        self.waiting = kept
        return batch

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch = self._take()
                try:
                    await self._write(batch)
                except BaseException as error:
                    # Whatever went wrong, no caller of the batch is left waiting.
                    for unit in batch:
                        if not unit.future.done():
                            unit.future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    log.exception("a batch failed unexpectedly")
        finally:
            self.in_flight -= 1
            if not self.waiting and not self.in_flight:
                self.owner.queues.pop(self.key, None)

    async def _write(self, batch: list[_Unit[Any]]) -> None:
        if len(batch) == 1:
            await _alone(self.owner.engine, batch[0])
            return

        async def together(conn: AsyncConnection) -> list[Any]:
            outcomes: list[Any] = []
            for unit in batch:
                try:
                    async with conn.begin_nested():
                        outcomes.append(await unit.work(conn))
                except DomainError as error:
                    outcomes.append(error)
                except DBAPIError as error:
                    if sqlstate(error) in RETRYABLE:
                        raise  # a deadlock: in_transaction runs the whole batch again
                    raise _UnitFailedError from error
                except Exception as error:
                    raise _UnitFailedError from error
            return outcomes

        # Anything else than a unit's failure (the commit itself failing, the connection
        # dropped, say) leaves it unknown whether the batch took effect: nothing is run again,
        # and _drain tells every caller.
        try:
            outcomes = await in_transaction(self.owner.engine, together)
        except _UnitFailedError:
            log.info("a batch of %d failed as a whole; writing its units one by one", len(batch))
            await asyncio.gather(*(_alone(self.owner.engine, unit) for unit in batch))
            return
        for unit, outcome in zip(batch, outcomes, strict=True):
            if unit.future.done():
                continue
            if isinstance(outcome, DomainError):
                unit.future.set_exception(outcome)
            else:
                unit.future.set_result(outcome)


async def _alone(engine: AsyncEngine, unit: _Unit[Any]) -> None:
    try:
        result = await in_transaction(engine, unit.work)
    except BaseException as error:
        if not unit.future.done():
            unit.future.set_exception(error)
        if not isinstance(error, Exception):
            raise
    else:
        if not unit.future.done():
            unit.future.set_result(result)


class GroupCommit:
    """One per process: a queue per key, made when needed and dropped when idle."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.queues: dict[Hashable, _Queue] = {}

    async def submit(self, key: Hashable, work: Work[T], exclusive: Hashable | None = None) -> T:
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = _Queue(self, key)
        unit: _Unit[T] = _Unit(work, exclusive)
        queue.add(unit)
        # The batch goes on even if this caller gives up: its result is simply not read.
        return await asyncio.shield(unit.future)
