"""db/plans.generic_plans: generic plans for the statements inside it, on a connection that
commits each statement on its own; the connection is put back as it was, even after a
failure, and a transaction is left alone."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.db.plans import generic_plans

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
