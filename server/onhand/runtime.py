"""Getting a database ready to serve: the embedded server, migrations, the first admin token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import IssuedToken, create_token, has_tokens
from onhand.config import Settings
from onhand.db import embedded, migrate
from onhand.db.engine import create_engine

log = logging.getLogger(__name__)
BOOTSTRAP_LOCK = 0x6F6E68616E6401


class NotMigrated(SystemExit):
    pass


def database_url(settings: Settings) -> str:
    """ONHAND_DATABASE_URL, or the embedded server (started and migrated on the way).

    Blocking, and it runs an event loop of its own to migrate: call it before asyncio.run,
    never from async code."""
    if settings.database_url:
        return settings.database_url
    url = embedded.start(settings.data_dir)
    migrate.upgrade(url)
    return url


async def require_migrated(engine: AsyncEngine) -> None:
    current = await migrate.current_revisions(engine)
    heads = migrate.head_revisions()
    if current != heads:
        have = ", ".join(sorted(current)) or "nothing"
        raise NotMigrated(
            f"The database is not migrated (it has {have}; this onhand needs"
            f" {', '.join(sorted(heads))}). Run `onhand migrate` first."
        )


@asynccontextmanager
async def migrated_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine for one command, once the database is known to be migrated."""
    engine = create_engine(url)
    try:
        await require_migrated(engine)
        yield engine
    finally:
        await engine.dispose()


async def bootstrap_admin(engine: AsyncEngine) -> IssuedToken | None:
    """On an empty database, create the first ADMIN token (returned once, never stored)."""
    async with engine.begin() as conn:
        # Several processes may start at once: one of them creates the token.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BOOTSTRAP_LOCK})
        if await has_tokens(conn):
            return None
        return await create_token(conn, "admin", Role.ADMIN)
