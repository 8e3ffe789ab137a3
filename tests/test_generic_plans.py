"""db/plans.generic_plans: generic plans for the statements inside it, on a connection that
commits each statement on its own; the connection is put back as it was, even after a
failure, and a transaction is left alone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.config import Settings
from onhand.db.plans import generic_plans
from onhand.services import Services

MODE = text("SELECT current_setting('plan_cache_mode')")


async def mode(conn: AsyncConnection) -> str:
    return str((await conn.execute(MODE)).scalar_one())


async def test_statements_on_their_own_use_generic_plans_and_the_setting_is_put_back(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        before = await mode(conn)
        async with generic_plans(conn):
            assert await mode(conn) == "force_generic_plan"
        assert await mode(conn) == before
        with pytest.raises(DBAPIError):
            async with generic_plans(conn):
                await conn.execute(text("SELECT 1 / 0"))
        assert await mode(conn) == before


async def test_a_transaction_keeps_its_custom_plans(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        before = await mode(conn)
        async with generic_plans(conn):
            assert await mode(conn) == before


async def test_the_at_once_engine_runs_generic_plans_without_setting_them(
    engine: AsyncEngine,
) -> None:
    """Batches written at once (Services.at_once_engine) run their generic plans from the
    connection's start: no round trips to set and reset the mode around each statement."""
    services = Services(settings=Settings(), engine=engine, authenticator=None)  # type: ignore[arg-type]
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    try:
        async with services.at_once_engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            event.listen(conn.sync_engine, "before_cursor_execute", record)
            async with generic_plans(conn):
                assert await mode(conn) == "force_generic_plan"
            event.remove(conn.sync_engine, "before_cursor_execute", record)
        async with engine.connect() as conn:
            assert await mode(conn) == "auto"  # the usual engine keeps its custom plans
    finally:
        await services.at_once_engine.dispose()
    assert not any("plan_cache_mode =" in statement for statement in sent), sent
