"""The reservation sweeper: releases expired reservations, a batch per transaction.

Each batch is claimed with FOR UPDATE SKIP LOCKED, so any number of sweepers (one per server,
plus `onhand worker`s) share the work without waiting on each other or releasing a
reservation twice. Every expiry is an EXPIRED ledger movement and a RESERVATION_CHANGED event,
a batch written by one statement (inventory/reservations/expiry.py).
Between batches it sleeps until the next reservation falls due (at most the sweeper interval).
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db.transactions import in_transaction
from onhand.inventory.ledger import ChangeContext, MovementSource
from onhand.inventory.reservations.expiry import expire_due
from onhand.services import Services

log = logging.getLogger(__name__)
ACTOR = "reservation-sweeper"
# Do not wake more often than this for reservations falling due one after another.
MIN_NAP_SECONDS = 0.05

_NEXT_DUE = text(
    """
    SELECT extract(epoch FROM min(expires_at) - now()) FROM reservations
    WHERE status = 'ACTIVE' AND expires_at IS NOT NULL
    """
)


async def sweep_once(engine: AsyncEngine, batch: int, actor: str = ACTOR) -> int:
    """Expire one batch of due reservations; returns how many."""
    context = ChangeContext(actor=actor, source=MovementSource.SYSTEM)
    started = time.perf_counter()
    done = await in_transaction(engine, lambda conn: expire_due(conn, batch, context))
    if done:
        seconds = time.perf_counter() - started
        log.info(
            "released %d expired reservations in %.0f ms",
            done,
            seconds * 1000,
            extra={"run": "reservation-sweeper", "released": done, "duration_ms": seconds * 1000},
        )
    return done


async def sweep_all(engine: AsyncEngine, batch: int, workers: int = 1, actor: str = ACTOR) -> int:
    """Expire everything due now, `workers` batches at a time; returns how many."""

    async def worker() -> int:
        # A short batch does not mean the backlog is done: rows another sweeper holds are
        # skipped, and rows it expired while this one looked drop out of the batch. Only an
        # empty batch does: everything still due is then held by a sweeper that will loop
        # again after its commit.
        total = 0
        while done := await sweep_once(engine, batch, actor):
            total += done
        return total

    return sum(await asyncio.gather(*(worker() for _ in range(workers))))


async def seconds_to_next_due(engine: AsyncEngine) -> float | None:
    async with engine.connect() as conn:
        found = (await conn.execute(_NEXT_DUE)).scalar()
    return None if found is None else float(found)


async def sweep(services: Services) -> float | None:
    """One step of the sweeper loop: everything due now (a backlog in parallel batches), then
    how long until more falls due."""
    settings = services.settings
    batch = settings.sweeper_batch_size
    if await sweep_once(services.engine, batch) >= batch:
        await sweep_all(services.engine, batch, settings.sweeper_concurrency)
    due = await seconds_to_next_due(services.engine)
    return None if due is None else max(MIN_NAP_SECONDS, due)
