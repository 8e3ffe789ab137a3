"""Alembic, driven from code: `onhand migrate`, the embedded server and the tests use it."""

from __future__ import annotations

import asyncio
import importlib.resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db.engine import async_url, create_engine


def alembic_config(url: str) -> Config:
    config = Config()
    # The migrations ship as the package onhand.migrations (mapped from the top-level
    # migrations/ folder), so an installed onhand finds them wherever it is.
    config.set_main_option("script_location", str(importlib.resources.files("onhand.migrations")))
    config.attributes["database_url"] = async_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`. Blocking: call it outside the event loop."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("postgresql://")).get_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        heads = await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_heads()
        )
    return set(heads)


async def pending(engine: AsyncEngine) -> bool:
    """True when the database is not at the newest migration."""
    return await current_revisions(engine) != head_revisions()


async def check_current(url: str) -> bool:
    engine = create_engine(url)
    try:
        return not await pending(engine)
    finally:
        await engine.dispose()
