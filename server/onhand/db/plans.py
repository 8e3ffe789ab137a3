"""Generic plans for the ledger's change statements.

The ledger's change statement, and the statements that embed it (a reservation batch
written at once), are long: some twenty CTEs over unnest() of parameter arrays. PostgreSQL
plans a prepared statement afresh on each call (a custom plan) while it judges that cheaper
than the generic plan, and for these it always does: the custom plan knows each array's
length, the generic one only guesses. Measured with pg_stat_statements under adjustments
spread over 5,000 levels: planned 2,971 times in 3,162 calls, 2.5 ms of planning against
1.4 ms of execution a call; with the generic plan, 0.75 ms of execution and no planning.

Batches written at once (one statement committing on its own: a caller's adjustments,
stock.adjust_together; a reservation batch's read and write, reservations/optimistic.py)
run on connections of their own whose plan_cache_mode is force_generic_plan from the start
(Services.at_once_engine): each statement is planned once per connection. Setting the mode
around each statement instead (`generic_plans`, for a change made alone on a connection of
the usual engine) costs two more round trips. Measured on the reservation batch alone, 400
batches of 5 one after the other: a read and a write of 7.0-8.9 ms with custom plans,
6.2-7.5 ms with generic ones. In a transaction nothing changes: putting the setting back
before COMMIT would be one more round trip while the statement's row locks are held. Every
other statement keeps its custom plans: an optional filter (`$1 IS NULL OR column = $1`)
needs one to use its column's index.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.db.engine import GENERIC_PLANS


def _option(conn: AsyncConnection, name: str) -> object:
    sync = conn.sync_connection
    return sync.get_execution_options().get(name) if sync is not None else None


def autocommit(conn: AsyncConnection) -> bool:
    """Whether each statement on `conn` commits on its own (AUTOCOMMIT)."""
    return _option(conn, "isolation_level") == "AUTOCOMMIT"


@contextlib.asynccontextmanager
async def generic_plans(conn: AsyncConnection) -> AsyncIterator[None]:
    """Statements run on `conn` inside this block use their generic plans, if `conn` commits
    each statement on its own; in a transaction nothing changes. A connection of the
    generic-plans engine (Services.at_once_engine) needs no setting."""
    if not autocommit(conn) or _option(conn, GENERIC_PLANS):
        yield
        return
    await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a connection that no longer answers is dropped
            await conn.exec_driver_sql("RESET plan_cache_mode")
