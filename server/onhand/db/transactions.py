"""Running a unit of work in one transaction, retried when PostgreSQL breaks a deadlock or a
serialization conflict (the work is then safe to run again: nothing of it was committed)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def sqlstate(error: DBAPIError) -> str | None:
    return getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)


async def in_transaction(
    engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]], attempts: int = 4
) -> T:
    for attempt in range(attempts):
        try:
            async with engine.begin() as conn:
                return await work(conn)
        except DBAPIError as error:
            if sqlstate(error) not in RETRYABLE or attempt == attempts - 1:
                raise
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")
