"""Group commit when units fail: a DomainError undoes only its own unit, anything else reruns
the batch one unit per transaction, so that one bad unit never fails or loses the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.core.errors import DomainError, ErrorCode
from onhand.inventory.group_commit import GroupCommit

Work = Callable[[AsyncConnection], Awaitable[int]]


@pytest_asyncio.fixture
async def probe(engine: AsyncEngine) -> AsyncIterator[None]:
    """A table each unit writes its number to, with the time its transaction started."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE group_commit_probe (n int, started timestamptz)"))
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE group_commit_probe"))


def unit(n: int, failure: Exception | None = None, delay: float = 0.0) -> Work:
    async def work(conn: AsyncConnection) -> int:
        await conn.execute(text("INSERT INTO group_commit_probe VALUES (:n, now())"), {"n": n})
        await asyncio.sleep(delay)
        if failure is not None:
            raise failure
        return n

    return work


async def run(engine: AsyncEngine, failing: Exception) -> tuple[list[object], dict[int, object]]:
    """Unit 1 alone (slow), then units 2, 3 and 4 queued behind it: one batch, 3 failing."""
    group = GroupCommit(engine)
    first = asyncio.create_task(group.submit("level", unit(1, delay=0.3)))
    await asyncio.sleep(0.05)
    rest = [
        asyncio.create_task(group.submit("level", unit(n, failing if n == 3 else None)))
        for n in (2, 3, 4)
    ]
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT n, started FROM group_commit_probe ORDER BY n"))
        written = {row.n: row.started for row in rows}
    return results, written


async def test_a_domain_error_undoes_only_its_own_unit(engine: AsyncEngine, probe: None) -> None:
    refused = DomainError.of(ErrorCode.INSUFFICIENT_STOCK, "not enough", "quantity")
    results, written = await run(engine, refused)
    assert [results[0], results[1], results[3]] == [1, 2, 4]
    assert results[2] is refused
    assert sorted(written) == [1, 2, 4]
    # 2 and 4 were written by one transaction (now() is its start), apart from 1's.
    assert written[2] == written[4] != written[1]


async def test_any_other_failure_reruns_the_batch_one_by_one(
    engine: AsyncEngine, probe: None
) -> None:
    results, written = await run(engine, RuntimeError("a bug in unit 3"))
    assert [results[0], results[1], results[3]] == [1, 2, 4]
    assert isinstance(results[2], RuntimeError)
    # The batch was rolled back and its good units written again, each alone: once each.
    assert sorted(written) == [1, 2, 4]
    assert written[2] != written[4]
