"""The alert evaluator loop: judges new events as they are published (woken by this
process's hub, polling when there is none, as under `onhand worker`), and now and then judges
again the levels whose HIGH_VELOCITY alert may have cooled down.

Any number of processes may run it: each step tries the evaluator's advisory lock, so one
process evaluates at a time and the others skip (inventory/alerts/evaluation.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from onhand.config import Settings
from onhand.db.transactions import in_transaction
from onhand.events.hub import woken
from onhand.inventory.alerts.evaluation import BATCH, evaluate, revisit_velocity
from onhand.inventory.alerts.rules import Thresholds

if TYPE_CHECKING:
    from onhand.services import Services

POLL_SECONDS = 0.5
VELOCITY_REVISIT_SECONDS = 60.0


@dataclass
class AlerterState:
    """What the evaluator keeps between steps, per process."""

    revisited: float = 0.0  # when velocity alerts were last judged again (monotonic)
    wake: asyncio.Event | None = None  # set by the hub when events are published


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        low_stock=settings.low_stock_threshold,
        high_velocity_units_per_hour=settings.high_velocity_units_per_hour,
        velocity_window=settings.simulated(timedelta(hours=1)),
        bulk=settings.alert_bulk_threshold,
    )


async def alert_step(services: Services) -> float | None:
    """One step: a batch of events (0: more may be waiting), else wait for the next."""
    limits = thresholds(services.settings)
    taken = await in_transaction(services.engine, lambda conn: evaluate(conn, limits))
    if taken >= BATCH:  # a full batch: more is waiting
        return 0.0
    now = time.monotonic()
    state = services.alerter
    if now - state.revisited >= VELOCITY_REVISIT_SECONDS:
        state.revisited = now
        await in_transaction(services.engine, lambda conn: revisit_velocity(conn, limits))
    if services.hub is None:
        return None  # the loop's interval: poll
    if state.wake is None:
        state.wake = services.hub.watch()
    await woken(state.wake, POLL_SECONDS)
    return 0.0
