"""Batches written at once run on connections with generic plans (db/plans.py,
Services.at_once_engine); every other connection keeps PostgreSQL's custom plans."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.config import Settings
from onhand.services import Services

MODE = text("SELECT current_setting('plan_cache_mode')")


async def mode(conn: AsyncConnection) -> str:
    return str((await conn.execute(MODE)).scalar_one())


async def test_the_at_once_engine_runs_generic_plans_and_the_usual_one_custom_plans(
    engine: AsyncEngine,
) -> None:
    services = Services(settings=Settings(), engine=engine, authenticator=None)  # type: ignore[arg-type]
    try:
        async with services.at_once_engine.connect() as conn:
            assert await mode(conn) == "force_generic_plan"
        async with engine.connect() as conn:
            assert await mode(conn) == "auto"
    finally:
        await services.at_once_engine.dispose()
