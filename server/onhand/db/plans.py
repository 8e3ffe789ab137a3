"""Generic plans for the ledger's change statements.

The ledger's change statement, and the statements that embed it (a reservation batch
written at once), are long: some twenty CTEs over unnest() of parameter arrays. PostgreSQL
plans a prepared statement afresh on each call (a custom plan) while it judges that cheaper
than the generic plan, and for these it always does: the custom plan knows each array's
length, the generic one only guesses. Measured with pg_stat_statements under adjustments
spread over 5,000 levels: planned 2,971 times in 3,162 calls, 2.5 ms of planning against
1.4 ms of execution a call; with the generic plan, 0.75 ms of execution and no planning.

So a change made on its own (autocommit: group-committed adjustments,
stock.adjust_together) runs with plan_cache_mode = force_generic_plan, set around its
statement alone. Measured by bench/adjust.py, alternating: spread over 5,000 levels (a
change of one movement each), 292-298 -> 392-396 adjustments/s; on one hot level (batches
of several movements) 787-838 -> 647-765/s, while the baseline of the same runs moved as
much (0.52-0.54x -> 0.44-0.49x): no gain there, perhaps a small cost. In a transaction
nothing changes: putting the setting back before COMMIT would be one more round trip while
the statement's row locks are held. Nor for the reservation batch written at once: there
the time goes to waiting for the hot rows' locks, and its generic plan measured slower
(550-640 -> 410-560 reservations/s on one hot SKU). Every other statement keeps its custom
plans: an optional filter (`$1 IS NULL OR column = $1`) needs one to use its column's
index.
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
