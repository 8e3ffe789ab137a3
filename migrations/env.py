"""Alembic environment: async, on asyncpg, one transaction guarded by an advisory lock so that
several processes starting at once migrate one after the other."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from onhand.db.engine import async_url
from onhand.db.schema import metadata

MIGRATION_LOCK = 0x6F6E68616E64  # "onhand"


def database_url() -> str:
    url = context.config.attributes.get("database_url") or os.environ.get("ONHAND_DATABASE_URL")
    if not url:
        raise SystemExit("No database URL: set ONHAND_DATABASE_URL or run `onhand migrate`.")
    return async_url(url)


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(database_url(), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(migrate)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
