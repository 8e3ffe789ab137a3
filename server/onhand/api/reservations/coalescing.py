"""Group commit for reservations: requests that arrive while earlier ones are being written
wait a moment and are then written together, in one transaction (reserving.reserve_many).

On a hot product every reservation must take the same channel x product row lock and wait
for the commit before the next may; written one by one, the lock is held across each
request's round trips and commit, and the event loop's other work. Written together, the lock
and the commit are paid once per batch. Under light load nothing waits: a request finding no
batch in flight starts one at once, alone.

Each request still succeeds or fails on its own (a cart is all or nothing, never a batch).
Batches are per caller (the ledger records one actor per change) and never hold two requests
with the same idempotency key. Should a batch fail as a whole (an unexpected ledger refusal),
its requests are run again one by one, each in its own transaction.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.errors import DomainError
from onhand.db.transactions import in_transaction
from onhand.inventory.ledger import ChangeContext
from onhand.inventory.reservations.reserving import (
    Reserved,
    ReserveRequest,
    Terms,
    reserve,
    reserve_many,
)

log = logging.getLogger(__name__)

MAX_BATCH = 200  # requests per transaction
MAX_LINES = 2000  # lines per transaction
PIPELINES = 2  # batches in flight at once per caller, in one process


@dataclass
class _Pending:
    request: ReserveRequest
    terms: Terms
    future: asyncio.Future[Reserved] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Queue:
    def __init__(self, engine: AsyncEngine, context: ChangeContext) -> None:
        self.engine = engine
        self.context = context
        self.waiting: list[_Pending] = []
        self.in_flight = 0

    def add(self, pending: _Pending) -> None:
        self.waiting.append(pending)
        if self.in_flight < PIPELINES:
            self.in_flight += 1
            asyncio.get_running_loop().create_task(self._drain())

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        keys: set[str] = set()
        lines = 0
        kept: list[_Pending] = []
        for pending in self.waiting:
            key = pending.request.idempotency_key
            size = len(pending.request.lines)
            if (
                len(batch) >= MAX_BATCH
                or (batch and lines + size > MAX_LINES)
                or (key is not None and key in keys)
            ):
                kept.append(pending)
                continue
            batch.append(pending)
            lines += size
            if key is not None:
                keys.add(key)
        self.waiting = kept
        return batch

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch = self._take()
                try:
                    await self._write(batch)
                except BaseException as error:
                    # Whatever went wrong, no caller of the batch may be left waiting.
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    log.exception("a reservation batch failed unexpectedly")
        finally:
            self.in_flight -= 1

    async def _write(self, batch: list[_Pending]) -> None:
        requests = [p.request for p in batch]
        terms = batch[-1].terms
        try:
            outcomes = await in_transaction(
                self.engine, lambda conn: reserve_many(conn, requests, self.context, terms)
            )
        except Exception:
            if len(batch) == 1:
                outcomes = None
            else:
                log.info("a reservation batch failed as a whole; writing its requests one by one")
                await asyncio.gather(*(self._alone(p) for p in batch))
                return
        if outcomes is None:
            await self._alone(batch[0])
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, DomainError):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    async def _alone(self, pending: _Pending) -> None:
        try:
            result = await in_transaction(
                self.engine,
                lambda conn: reserve(conn, pending.request, self.context, pending.terms),
            )
        except BaseException as error:
            if not pending.future.done():
                pending.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
        else:
            if not pending.future.done():
                pending.future.set_result(result)


class Coalescer:
    """One per process (services.extras): a queue per caller."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.queues: dict[tuple[str, str], _Queue] = {}

    async def submit(
        self, request: ReserveRequest, context: ChangeContext, terms: Terms
    ) -> Reserved:
        key = (context.actor, str(context.source))
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = _Queue(self.engine, context)
        pending = _Pending(request, terms)
        queue.add(pending)
        # The batch goes on even if this caller gives up: its result is simply not read.
        return await asyncio.shield(pending.future)
