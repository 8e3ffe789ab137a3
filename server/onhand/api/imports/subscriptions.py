"""importProgress: a running import as it goes, from any server process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.imports.types import ImportJob, load_jobs
from onhand.api.permissions import check
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError

# The job row is read this often. It is written by whichever process runs the import, outside
# the import's transaction, so any process can follow any import this way.
POLL_SECONDS = 0.25


def _state(job: ImportJob) -> tuple[object, ...]:
    return (job.status, job.phase, job.rows_done, job.rows_total, job.failed, job.message)


@strawberry.type
class ImportSubscription:
    @strawberry.subscription(
        description="The import's job now, then each time it moves on, until it ends "
        "(SUCCEEDED or FAILED: the last message)."
    )
    async def import_progress(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[ImportJob, None]:
        check(info, Permission.MANAGE_STOCK)
        try:
            job_id = ids.decode(id, "ImportJob", "id")
        except DomainError as error:
            raise GraphQLError(str(error), extensions={"code": "BAD_USER_INPUT"}) from error
        info.context.listening()
        last: tuple[object, ...] | None = None
        while True:
            info.context.reset_loaders()
            [record] = await load_jobs(info, [job_id])
            if record is None:
                raise GraphQLError(
                    f"import job {id} does not exist", extensions={"code": "NOT_FOUND"}
                )
            job = ImportJob.from_record(record)
            if _state(job) != last:
                last = _state(job)
                yield job
            if record.finished:
                return
            await asyncio.sleep(POLL_SECONDS)
