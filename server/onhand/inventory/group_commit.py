"""Group commit: work on the same key that arrives while earlier work is being written waits
a moment, then is written together in one transaction.

On a hot row every writer takes the same row lock and holds it until its commit is on disk;
written one by one, throughput is one commit (an fsync and a few round trips) per request.
Written together, the lock and the commit are paid once per batch. Under light load nothing
waits: an item finding no batch in flight for its key starts one at once, alone.

One mechanism, `Batcher`, queues, batches and hands out results; a `Strategy` says how a
batch is written: `SavepointStrategy` runs arbitrary units of work each in a savepoint of its
own (stock adjustments that cannot be written together, through `GroupCommit`),
reservations write a whole batch in one set-based call (reservations/coalescing.py). A
strategy may first try to write the batch by one statement in a transaction of its own
(`write_at_once`), so that the row locks are held for that statement only; it answers for
every item or writes nothing (adjustments across levels, inventory/adjustments_together.py,
answer for every item, some the per-level way).

Each item still succeeds or fails on its own: a DomainError is that item's answer, and the
others of the batch commit. Results are handed out only after the commit. Should writing the
batch fail otherwise, its transaction is rolled back and its items are written again one by
one, each in its own transaction, so that one bad item cannot fail the others. A failure of
the commit itself is reported to every caller and nothing is written again: it may have
taken effect.

Keep keys narrow (one row, or one caller whose batch takes its row locks in a fixed order):
batches on different keys then cannot deadlock with each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.core.errors import DomainError
from onhand.db.transactions import RETRYABLE, in_transaction, sqlstate

log = logging.getLogger(__name__)
T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an item of a batch
R = TypeVar("R")
Work = Callable[[AsyncConnection], Awaitable[T]]


# How batches were written, by strategy: at_once (one statement, strategy.write_at_once) or
# in_transaction (write_batch, or write_one for a batch of one). Mostly in_transaction where
# at_once was expected (no keys, stock to spare) says the fast way keeps refusing.
BATCHES = Counter(
    "onhand_write_batches_total", "Group-committed batches written, by way", ["strategy", "way"]
)


class Strategy(Generic[I, R]):
    """How a batch of items is written, and what may share a batch."""

    name = "batch"  # in BATCHES
    max_batch = 200  # items per transaction
    max_weight: int | None = None  # the most `weight` a batch may carry (None: no limit)
    # Batches in flight at once per key and process.
    pipelines = 1

    def weight(self, item: I) -> int:
        return 1

    def exclusive(self, item: I) -> Hashable | None:
        """Items with the same token never share a batch (an idempotency key, say)."""
        return None

    async def write_at_once(
        self, engine: AsyncEngine, items: list[I]
    ) -> Sequence[R | Exception] | None:
        """A faster way to write the items, tried first, that either answers for all of them
        (an exception is that item's answer) or writes nothing and returns None (then they go
        through write_batch/write_one)."""
        return None

    async def write_batch(self, conn: AsyncConnection, items: list[I]) -> list[R | DomainError]:
        """Write every item, in order; an item's DomainError is its answer. Anything raised
        rolls the batch back, and its items are written one by one."""
        raise NotImplementedError

    async def write_one(self, conn: AsyncConnection, item: I) -> R:
        raise NotImplementedError


class _BatchFailedError(Exception):
    """Writing a batch failed (not its commit): its transaction was rolled back, so each item
    may safely be written again alone."""


@dataclass
class _Unit(Generic[I, R]):
    item: I
    future: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Queue(Generic[I, R]):
    def __init__(self, owner: Batcher[I, R], key: Hashable) -> None:
        self.owner = owner
        self.key = key
        self.waiting: list[_Unit[I, R]] = []
        self.in_flight = 0

    def add(self, unit: _Unit[I, R]) -> None:
        self.waiting.append(unit)
        if self.in_flight < self.owner.strategy.pipelines:
            self.in_flight += 1
            asyncio.get_running_loop().create_task(self._drain())

    def _take(self) -> list[_Unit[I, R]]:
        strategy = self.owner.strategy
        batch: list[_Unit[I, R]] = []
        tokens: set[Hashable] = set()
        weight = 0
        kept: list[_Unit[I, R]] = []
        for unit in self.waiting:
            token = strategy.exclusive(unit.item)
            size = strategy.weight(unit.item)
            if (
                len(batch) >= strategy.max_batch
                or (
                    batch
                    and strategy.max_weight is not None
                    and weight + size > strategy.max_weight
                )
                or (token is not None and token in tokens)
            ):
                kept.append(unit)
                continue
            batch.append(unit)
            weight += size
            if token is not None:
                tokens.add(token)
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

    async def _write(self, batch: list[_Unit[I, R]]) -> None:
        strategy = self.owner.strategy
        engine = self.owner.engine
        items = [unit.item for unit in batch]
        at_once = await strategy.write_at_once(engine, items)
        BATCHES.labels(strategy.name, "at_once" if at_once is not None else "in_transaction").inc()
        if at_once is not None:
            _hand_out(batch, at_once)
            return
        if len(batch) == 1:
            await _alone(engine, strategy, batch[0])
            return

        async def together(conn: AsyncConnection) -> list[R | DomainError]:
            try:
                return await strategy.write_batch(conn, items)
            except DBAPIError as error:
                if sqlstate(error) in RETRYABLE:
                    raise  # a deadlock: in_transaction writes the whole batch again
                raise _BatchFailedError from error
            except Exception as error:
                raise _BatchFailedError from error

        # Anything else than writing the batch failing (the commit itself, the connection
        # dropped, say) leaves it unknown whether the batch took effect: nothing is written
        # again, and _drain tells every caller.
        try:
            outcomes = await in_transaction(engine, together)
        except _BatchFailedError:
            log.info("a batch of %d failed as a whole; writing its items one by one", len(batch))
            await asyncio.gather(*(_alone(engine, strategy, unit) for unit in batch))
            return
        _hand_out(batch, outcomes)


def _hand_out(batch: list[_Unit[I, R]], outcomes: Sequence[R | Exception]) -> None:
    for unit, outcome in zip(batch, outcomes, strict=True):
        if unit.future.done():
            continue
        if isinstance(outcome, Exception):
            unit.future.set_exception(outcome)
        else:
            unit.future.set_result(outcome)


async def _alone(engine: AsyncEngine, strategy: Strategy[I, R], unit: _Unit[I, R]) -> None:
    try:
        result = await in_transaction(engine, lambda conn: strategy.write_one(conn, unit.item))
    except BaseException as error:
        if not unit.future.done():
            unit.future.set_exception(error)
        if not isinstance(error, Exception):
            raise
    else:
        if not unit.future.done():
            unit.future.set_result(result)


class Batcher(Generic[I, R]):
    """One per process and strategy: a queue per key, made when needed, dropped when idle."""

    def __init__(self, engine: AsyncEngine, strategy: Strategy[I, R]) -> None:
        self.engine = engine
        self.strategy = strategy
        self.queues: dict[Hashable, _Queue[I, R]] = {}

    async def submit(self, key: Hashable, item: I) -> R:
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = _Queue(self, key)
        unit: _Unit[I, R] = _Unit(item)
        queue.add(unit)
        # The batch goes on even if this caller gives up: its result is simply not read.
        return await asyncio.shield(unit.future)


@dataclass(frozen=True)
class _Savepointed:
    work: Work[Any]
    exclusive: Hashable | None


class SavepointStrategy(Strategy[_Savepointed, Any]):
    """Any units of work, each in a savepoint of its own: a DomainError rolls back that unit
    only. One batch in flight per key: two would only queue on the same row lock, and could
    deadlock on an idempotency key that one holds and the other waits for."""

    name = "savepoints"

    def exclusive(self, item: _Savepointed) -> Hashable | None:
        return item.exclusive

    async def write_batch(
        self, conn: AsyncConnection, items: list[_Savepointed]
    ) -> list[Any | DomainError]:
        outcomes: list[Any | DomainError] = []
        for item in items:
            try:
                async with conn.begin_nested():
                    outcomes.append(await item.work(conn))
            except DomainError as error:
                outcomes.append(error)
        return outcomes

    async def write_one(self, conn: AsyncConnection, item: _Savepointed) -> Any:
        return await item.work(conn)


class GroupCommit:
    """Units of work grouped by key (one per process)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.batcher: Batcher[_Savepointed, Any] = Batcher(engine, SavepointStrategy())

    async def submit(
        self,
        key: Hashable,
        work: Work[T],
        exclusive: Hashable | None = None,
    ) -> T:
        result: T = await self.batcher.submit(key, _Savepointed(work, exclusive))
        return result
