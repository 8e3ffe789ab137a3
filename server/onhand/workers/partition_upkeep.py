"""Upkeep of the ledger's and the outbox's monthly partitions (db/partitions.py): the current
month and ONHAND_PARTITION_MONTHS_AHEAD months after it exist before anything is written in
them, and the outbox's months that ended more than ONHAND_OUTBOX_RETENTION_DAYS ago are
dropped once every consumer is past them. The ledger is never dropped: it is the books.

Any number of processes run this loop: a transaction-scoped advisory lock lets one of them
work at a time, and everything it does is idempotent (a month that exists is left alone).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.config import Settings
from onhand.db.partitions import PARTITIONED, create_months, drop_expired_outbox, months_from
from onhand.db.transactions import in_transaction, sqlstate
from onhand.services import Services

log = logging.getLogger(__name__)
PARTITION_LOCK = 0x6F6E68616E6430
LOCK_NOT_AVAILABLE = "55P03"
# After giving up on a lock held by a long transaction: soon, not at the next interval.
RETRY_SECONDS = 60.0


async def keep_partitions(conn: AsyncConnection, settings: Settings) -> bool:
    """One round of upkeep; False when another process holds the upkeep lock."""
    locked = (
        await conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PARTITION_LOCK})
    ).scalar_one()
    if not locked:
        return False
    now = (await conn.execute(text("SELECT now()"))).scalar_one()
    months = months_from(now, settings.partition_months_ahead + 1)
    for table in PARTITIONED:
        created = await create_months(conn, table, months)
        if created:
            log.info("created partitions %s", ", ".join(created))
    retention = timedelta(days=settings.outbox_retention_days)
    dropped = await drop_expired_outbox(conn, retention)
    if dropped:
        log.info("dropped outbox partitions %s (past retention)", ", ".join(dropped))
    return True


async def upkeep_step(services: Services) -> float | None:
    """One step of the loop (see workers/runner.py)."""
    try:
        await in_transaction(services.engine, lambda conn: keep_partitions(conn, services.settings))
    except DBAPIError as error:
        if sqlstate(error) != LOCK_NOT_AVAILABLE:
            raise
        # A long transaction holds the table: try again later rather than queue writers.
        log.info("partition upkeep postponed: %s", error.orig)
        return RETRY_SECONDS
    return None
