"""Scheduled reconciliation: every level checked against the ledger and the reservations,
once per interval (ONHAND_RECONCILIATION_INTERVAL_MINUTES, hourly by default) across the
whole deployment.

With ONHAND_RECONCILIATION_AUTO_REPAIR=true the scheduled run also repairs what it finds in
reserved and committed (rebuilt from the live reservations: counts/repairs.py).

Any number of servers and workers run this loop; a transaction-scoped advisory lock lets one
of them check at a time, and the last SCHEDULED run's time (in the database, not in the
process) decides whether a run is due, so adding processes never adds runs.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.db.transactions import in_transaction
from onhand.inventory.counts.reconciliation import Trigger, reconcile
from onhand.inventory.counts.repairs import RepairMode, RepairScope
from onhand.services import Services

log = logging.getLogger(__name__)
ACTOR = "reconciler"
RECONCILER_LOCK = 0x6F6E68616E6410

_SECONDS_SINCE_LAST = text(
    """
    SELECT extract(epoch FROM now() - max(finished_at)) FROM reconciliation_runs
    WHERE trigger = 'SCHEDULED'
    """
)


async def reconcile_if_due(
    conn: AsyncConnection, interval_seconds: float, auto_repair: bool = False
) -> float | None:
    """Run a scheduled reconciliation when one is due; returns the seconds until the next
    one is due (None: another process is checking now)."""
    locked = (
        await conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RECONCILER_LOCK})
    ).scalar_one()
    if not locked:
        return None
    since = (await conn.execute(_SECONDS_SINCE_LAST)).scalar()
    if since is not None and float(since) < interval_seconds:
        return interval_seconds - float(since)
    mode = RepairMode.APPLIED if auto_repair else None
    run = await reconcile(conn, None, ACTOR, Trigger.SCHEDULED, mode, RepairScope.HELD_ONLY)
    if run.discrepancy_count:
        log.warning(
            "reconciliation run %d found %d discrepancies in %d levels",
            run.id,
            run.discrepancy_count,
            run.levels_checked,
        )
    return interval_seconds


async def reconcile_step(services: Services) -> float | None:
    """One step of the loop (see workers/runner.py)."""
    interval = services.settings.reconciliation_interval_minutes * 60
    auto_repair = services.settings.reconciliation_auto_repair
    return await in_transaction(
        services.engine, lambda conn: reconcile_if_due(conn, interval, auto_repair)
    )
