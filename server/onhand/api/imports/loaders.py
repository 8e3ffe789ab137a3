"""The imports domain's loaders."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.api.dataloading import by_key
from onhand.inventory.imports import jobs


async def jobs_by_ids(conn: AsyncConnection, job_ids: Sequence[int]) -> dict[int, jobs.ImportJob]:
    found = await jobs.jobs_by_ids(conn, job_ids)
    await conn.commit()  # jobs found abandoned on the way are recorded as FAILED
    return found


class ImportLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.job = by_key(engine, jobs_by_ids)
