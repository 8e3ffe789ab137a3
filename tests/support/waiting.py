"""Waiting for a condition, with a deadline, instead of sleeping for luck."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def until(
    condition: Callable[[], object | Awaitable[object]],
    what: str,
    seconds: float = 30,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll `condition` (plain or async) until it is true; past the deadline, fail saying
    `what` was expected (and `explain()`, such as a server's log)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        detail = f"\n{explain()}" if explain else ""
        raise AssertionError(f"not within {seconds} s: {what}{detail}") from None


async def waiting_for_a_lock(engine: AsyncEngine, application_name: str | None = None) -> bool:
    """Whether a session of this database (of that application, if named) waits for a lock."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
                " AND (CAST(:name AS text) IS NULL OR application_name = :name)"
            ),
            {"name": application_name},
        )
        return bool(found.scalar_one())
