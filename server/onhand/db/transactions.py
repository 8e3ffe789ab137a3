"""Running a unit of work in one transaction, retried when PostgreSQL breaks a deadlock or a
serialization conflict (the work is then safe to run again: nothing of it was committed)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure
UNIQUE_VIOLATION = "23505"


# The database is away, not the request wrong: connection exceptions (08...), shutting down
# or starting up (57P01-57P03), too many connections (53300).
_AWAY = {"57P01", "57P02", "57P03", "53300"}


def sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)


def database_unavailable(error: BaseException | None) -> bool:
    """Did this fail because the database could not be reached (refused, cut, full, a pool
    that found no connection in time), rather than because of what was asked?"""
    while error is not None:
        if isinstance(error, SQLAlchemyTimeoutError | ConnectionError | TimeoutError):
            return True
        if isinstance(error, DBAPIError):
            if error.connection_invalidated:
                return True
            state = sqlstate(error) or ""
            if state.startswith("08") or state in _AWAY:
                return True
            if state == "55000" and "accepting connections" in str(error.orig):
                return True  # the database was closed to connections (ALLOW_CONNECTIONS)
        if isinstance(error, OSError):  # refused, unreachable
            return True
        error = error.__cause__
    return False


async def in_transaction(
    engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]], attempts: int = 4
) -> T:
    for attempt in range(attempts):
        try:
            async with engine.begin() as conn:
                return await work(conn)
        except DBAPIError as error:
            state = sqlstate(error)
            if state not in RETRYABLE or attempt == attempts - 1:
                raise
            # Said every time: a deadlock retried is a lock order to look at, not a quiet cost.
            log.warning("a transaction met %s and is tried again (attempt %d)", state, attempt + 2)
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
