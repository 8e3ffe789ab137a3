"""Group commit for reservations (inventory/group_commit.py): requests that arrive while
earlier ones are being written wait a moment and are then written together: judged on an
unlocked read and written by one statement (optimistic.py), or, when that cannot be, in one
transaction by one set-based call (reserving.reserve_many).

On a hot product every reservation must take the same channel x product row lock and wait
for the commit before the next may; written one by one, the lock is held across each
request's round trips and commit, and the event loop's other work. Written together, the lock
and the commit are paid once per batch.

Each request still succeeds or fails on its own (a cart is all or nothing, never a batch).
Batches are per caller (the ledger records one actor per change) and never hold two requests
with the same idempotency key; several batches may be in flight per caller, which cannot
deadlock on idempotency keys because reserve_many claims them in key order.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.core.errors import DomainError
from onhand.inventory.group_commit import Batcher, Strategy
from onhand.inventory.ledger import ChangeContext
from onhand.inventory.reservations.optimistic import reserve_many_at_once
from onhand.inventory.reservations.reserving import (
    Reserved,
    ReserveRequest,
    Terms,
    reserve,
    reserve_many,
)


@dataclass(frozen=True)
class _Asked:
    request: ReserveRequest
    context: ChangeContext
    terms: Terms


class _ReservationStrategy(Strategy[_Asked, Reserved]):
    name = "reservations"
    max_batch = 200
    max_weight = 2000  # lines per transaction
    # Batches in flight per caller: while one reads and judges, another writes. More batches
    # are smaller ones, which on a hot product queue on its row's lock: measured with 16
    # clients driven by wrk (BENCHMARKS.md), 2 beat 4 on one hot SKU (914 against 814/s)
    # and did no worse spread over 2,000 (1,013 against 921/s). (4 won only under a Python
    # client on the same cores, which left the server less of them.)
    pipelines = 2

    def __init__(self, at_once_engine: AsyncEngine) -> None:
        # Written at once on connections with generic plans (db/plans.py); the locked way
        # keeps the batcher's engine and its custom plans.
        self.at_once_engine = at_once_engine

    def weight(self, item: _Asked) -> int:
        return len(item.request.lines)

    def exclusive(self, item: _Asked) -> str | None:
        return item.request.idempotency_key

    async def write_at_once(
        self, engine: AsyncEngine, items: list[_Asked]
    ) -> list[Reserved | DomainError] | None:
        return await reserve_many_at_once(
            self.at_once_engine,
            [item.request for item in items],
            items[0].context,
            items[-1].terms,
        )

    async def write_batch(
        self, conn: AsyncConnection, items: list[_Asked]
    ) -> list[Reserved | DomainError]:
        # One caller's batch: its first request's context; the latest terms (utilization).
        return await reserve_many(
            conn, [item.request for item in items], items[0].context, items[-1].terms
        )

    async def write_one(self, conn: AsyncConnection, item: _Asked) -> Reserved:
        return await reserve(conn, item.request, item.context, item.terms)


class Coalescer:
    """One per process: a queue per caller."""

    def __init__(self, engine: AsyncEngine, at_once_engine: AsyncEngine) -> None:
        self.batcher: Batcher[_Asked, Reserved] = Batcher(
            engine, _ReservationStrategy(at_once_engine)
        )

    async def submit(
        self, request: ReserveRequest, context: ChangeContext, terms: Terms
    ) -> Reserved:
        key = (context.actor, str(context.source))
        return await self.batcher.submit(key, _Asked(request, context, terms))
