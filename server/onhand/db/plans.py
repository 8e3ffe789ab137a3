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
(`create_engine(generic_plans=True)`, Services.at_once_engine): each statement is planned
once per connection. Setting the mode around each statement instead (as an earlier version
did) costs two more round trips. Measured on the reservation batch alone, 400 batches of 5
one after the other: a read and a write of 7.0-8.9 ms with custom plans, 6.2-7.5 ms with
generic ones. Every other statement keeps its custom plans: an optional filter (`$1 IS NULL
OR column = $1`) needs one to use its column's index.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection


def autocommit(conn: AsyncConnection) -> bool:
    """Whether each statement on `conn` commits on its own (AUTOCOMMIT)."""
    sync = conn.sync_connection
    return sync is not None and sync.get_execution_options().get("isolation_level") == (
        "AUTOCOMMIT"
    )
