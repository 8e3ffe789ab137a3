"""Scheduled recomputation of demand-driven buffers: each channel whose buffers are computed
from its sales is recomputed once per ONHAND_DEMAND_BUFFER_INTERVAL_MINUTES (hourly by
default; 0 turns the schedule off, recomputeDemandBuffers still works).

Any number of processes run this loop: each step claims the channel due the longest with
FOR UPDATE SKIP LOCKED and recomputes it in one transaction, and a channel's last
recomputation time is in the database, so adding processes never adds runs."""

from __future__ import annotations

from onhand.db.transactions import in_transaction
from onhand.inventory.channels.demand_buffers import recompute_next_due
from onhand.services import Services

# How often a process looks for a channel that is due.
POLL_SECONDS = 60.0


async def recompute_step(services: Services) -> float | None:
    """One step of the loop (see workers/runner.py): 0 when it recomputed one (another may
    be due), None when none was due."""
    interval = services.settings.demand_buffer_interval_minutes
    done = await in_transaction(services.engine, lambda conn: recompute_next_due(conn, interval))
    return 0 if done else None
