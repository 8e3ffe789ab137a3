"""Group commit for adjustInventory across levels (inventory/group_commit.py): one caller's
adjustments that arrive while earlier ones are being written wait a moment, then are written
together by one ledger statement (stock.adjust_together), whatever levels they adjust.

Keyed by level, a batch only forms on a hot level: adjustments spread over many levels were
each a transaction of their own, paying a commit, a plan and the round trips apiece. Keyed
by caller, they share all of these. One statement takes its levels' locks in level order, as
every change does, so batches on different keys cannot deadlock with each other; should one
deadlock with another writer, it writes nothing and its adjustments go the per-level way.

What cannot be written that way (an idempotency key to claim, a channel to resolve, an
unknown product, a refusal or an error in the statement, which then wrote nothing) goes the
per-level way (`GroupCommit`, each adjustment in a savepoint of its own), where it gets its
exact answer without holding any other level's lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.group_commit import Batcher, Strategy
from onhand.inventory.ledger import ChangeContext
from onhand.inventory.stock import Adjust, Adjusted, adjust_together, written_alone

Alone = Callable[[], Awaitable[Adjusted]]


@dataclass(frozen=True)
class _Asked:
    request: Adjust
    context: ChangeContext
    alone: Alone  # the same adjustment the per-level way


class _AdjustmentStrategy(Strategy[_Asked, Adjusted]):
    name = "adjustments"
    max_batch = 500  # movements in one statement
    # Batches in flight per caller: while one waits for its commit, the next is written.
    pipelines = 2

    async def write_at_once(
        self, engine: AsyncEngine, items: list[_Asked]
    ) -> list[Adjusted | Exception]:
        outcomes: list[Adjusted | Exception | None] = list(
            await adjust_together(engine, [(item.request, item.context) for item in items])
        )
        left = [i for i, outcome in enumerate(outcomes) if outcome is None]
        alone = await asyncio.gather(*(items[i].alone() for i in left), return_exceptions=True)
        for i, outcome in zip(left, alone, strict=True):
            if not isinstance(outcome, Adjusted | Exception):
                raise outcome  # cancelled: nobody waits for an answer
            outcomes[i] = outcome
        return [outcome for outcome in outcomes if outcome is not None]


class AdjustmentsTogether:
    """One per process: a queue per caller."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.batcher: Batcher[_Asked, Adjusted] = Batcher(engine, _AdjustmentStrategy())

    async def submit(self, request: Adjust, context: ChangeContext, alone: Alone) -> Adjusted:
        if written_alone(request):
            return await alone()  # never written together: no need to wait for a batch
        key = (context.actor, str(context.source))
        return await self.batcher.submit(key, _Asked(request, context, alone))
