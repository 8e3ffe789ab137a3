"""A fresh PostgreSQL database per test run: ONHAND_TEST_DATABASE_URL's server, else the one on
127.0.0.1:5432, else the embedded server. Migrated with Alembic (so the migrations are tested
too) and dropped afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db import embedded, migrate
from onhand.db.engine import plain_url
from onhand.db.schema import metadata
from onhand.db.transactions import in_transaction

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Tables a test's cleanup keeps: the tokens, and the single-row cursors of the background
# consumers of the outbox (their migrations create the rows).
KEEP = {"api_tokens", "outbox_cursor", "webhook_cursor", "alert_cursor"}

# The identity sequences of the tables a cleanup empties: they start again, so that ids do too.
_OWNED_SEQUENCES = text(
    "SELECT s.oid::regclass::text FROM pg_depend d JOIN pg_class s ON s.oid = d.objid"
    " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
    " AND s.relkind = 'S' AND d.deptype IN ('a', 'i')"
    " AND d.refobjid::regclass::text = ANY(:tables)"
)


async def emptying_statement(engine: AsyncEngine) -> str:
    """One statement that empties every table but KEEP's and restarts their ids.

    It is what `TRUNCATE ... RESTART IDENTITY` does, at a fortieth of the cost: a TRUNCATE
    replaces the files of every table, partition and index (hundreds of them), where a DELETE
    of the few rows a test wrote touches only those. The lock waits for the server's workers'
    writes in flight and holds new ones off, as TRUNCATE's does; the replica role lets the
    DELETE pass the ledger's append-only trigger and skip the foreign-key checks, as TRUNCATE
    does."""
    tables = [t.name for t in metadata.sorted_tables if t.name not in KEEP]
    async with engine.connect() as conn:
        sequences = (await conn.execute(_OWNED_SEQUENCES, {"tables": tables})).scalars().all()
    deletes = " ".join(f"DELETE FROM {table};" for table in tables)
    owned = ", ".join(f"'{sequence}'::regclass" for sequence in sequences)
    return f"""DO $$ BEGIN
        LOCK TABLE {", ".join(tables)} IN SHARE ROW EXCLUSIVE MODE;
        SET LOCAL session_replication_role = replica;
        {deletes}
        PERFORM setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s
         WHERE s.seqrelid = ANY(ARRAY[{owned}]::regclass[])
           AND pg_sequence_last_value(s.seqrelid) IS NOT NULL;
    END $$"""


async def empty(engine: AsyncEngine, statement: str) -> None:
    # The server's background workers write these tables: a lock that meets one half-way may
    # be chosen as a deadlock victim, and is then retried.
    await in_transaction(engine, lambda conn: conn.execute(text(statement)))


async def _reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(plain_url(url), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def server_url() -> str:
    """The URL of a maintenance database on a server the tests may create databases on."""
    configured = os.environ.get("ONHAND_TEST_DATABASE_URL")
    if configured:
        return configured
    if asyncio.run(_reachable(LOCAL)):
        return LOCAL
    data_dir = Path(tempfile.mkdtemp(prefix="onhand-test-pg-"))
    return embedded.start(data_dir, database="postgres", cleanup="delete")


def with_database(url: str, name: str) -> str:
    return make_url(plain_url(url)).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create(server: str, revision: str = "head") -> str:
    """A new database migrated up to `revision` (an older one tests a migration on it)."""
    name = f"onhand_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = with_database(server, name)
    migrate.upgrade(url, revision)
    return url


def drop(server: str, url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def published(engine: AsyncEngine, seconds: float = 10) -> None:
    """Wait until the relay has published every committed event: a subscription started
    after this hears only what changes next."""
    async with asyncio.timeout(seconds):
        while True:
            async with engine.connect() as conn:
                waiting = (
                    await conn.execute(
                        text("SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)")
                    )
                ).scalar()
            if not waiting:
                return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def refusing_connections(server: str, url: str) -> AsyncIterator[None]:
    """A database outage, as far as `url`'s database is concerned: while the block runs, its
    connections are cut and new ones refused. Other databases on the server are untouched."""
    name = make_url(url).database
    admin = await asyncpg.connect(plain_url(server))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
