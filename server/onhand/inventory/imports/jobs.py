"""Import jobs: their rows in import_jobs and import_errors, written outside the import's own
transaction so that progress shows while it runs and problems outlive a refused import.

A running import holds a session advisory lock on its job (on the connection doing the work).
A job marked RUNNING whose lock nobody holds was left by a process that died: its transaction
was rolled back with the connection, so nothing of it was applied, and it is reported (and
recorded, by `reap_abandoned`) as FAILED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.pagination import Listing
from onhand.core.records import FromRow
from onhand.db.import_tables import import_errors, import_jobs
from onhand.inventory.imports.options import MAX_STORED_PROBLEMS, ImportOptions
from onhand.inventory.imports.problems import RowProblem

# The advisory lock key space of import jobs: pg_advisory_lock(LOCK_SPACE, job id).
LOCK_SPACE = 0x4F4E4849
ABANDONED = (
    "the process running this import stopped before it finished (last seen {seen});"
    " nothing of it was applied"
)


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class JobPhase(StrEnum):
    PARSING = "PARSING"
    VALIDATING = "VALIDATING"
    APPLYING = "APPLYING"
    FINISHED = "FINISHED"


@dataclass(frozen=True, slots=True)
class ImportJob(FromRow):
    id: int
    actor: str
    status: str
    phase: str
    mode: str
    dry_run: bool
    allow_partial: bool
    create_missing_products: bool
    file_name: str | None
    file_size: int
    file_sha256: str | None
    idempotency_key: str | None
    reason: str | None
    rows_total: int
    rows_done: int
    created: int
    updated: int
    unchanged: int
    failed: int
    products_created: int
    message: str | None
    replay_of: int | None
    created_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status != JobStatus.RUNNING

    @property
    def reference_id(self) -> str:
        """What the ledger's movements of this import carry as their reference."""
        return reference_of(self.id)


def reference_of(job_id: int) -> str:
    return f"import-{job_id}"


@dataclass(frozen=True, slots=True)
class Counts:
    rows_total: int = 0
    rows_done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    products_created: int = 0


async def open_job(
    conn: AsyncConnection,
    actor: str,
    options: ImportOptions,
    *,
    file_size: int,
    file_sha256: str,
) -> int:
    """Create a RUNNING job and hold its lock on `conn` (for as long as `conn`'s session
    lasts, or until `release`). The lock is taken before the row exists, so no reader can
    ever see the job running without it."""
    job_id = int(
        (
            await conn.execute(text("SELECT nextval(pg_get_serial_sequence('import_jobs', 'id'))"))
        ).scalar_one()
    )
    await conn.execute(
        text("SELECT pg_advisory_lock(:space, CAST(:id AS int))"),
        {"space": LOCK_SPACE, "id": job_id},
    )
    await conn.execute(
        import_jobs.insert().values(
            id=job_id,
            actor=actor,
            mode=str(options.mode),
            dry_run=options.dry_run,
            allow_partial=options.allow_partial,
            create_missing_products=options.create_missing_products,
            file_name=options.file_name,
            file_size=file_size,
            file_sha256=file_sha256,
            idempotency_key=options.idempotency_key,
            reason=options.reason,
        )
    )
    await conn.commit()
    return job_id


async def release(conn: AsyncConnection, job_id: int) -> None:
    await conn.execute(
        text("SELECT pg_advisory_unlock(:space, CAST(:id AS int))"),
        {"space": LOCK_SPACE, "id": job_id},
    )
    await conn.commit()


async def update(conn: AsyncConnection, job_id: int, **values: Any) -> None:
    """Progress (phase, rows_done, ...) and a heartbeat, in the caller's transaction."""
    await conn.execute(
        import_jobs.update()
        .where(import_jobs.c.id == job_id)
        .values(**values, heartbeat_at=func.now())
    )


async def finish(
    conn: AsyncConnection,
    job_id: int,
    status: JobStatus,
    counts: Counts,
    message: str | None = None,
    replay_of: int | None = None,
) -> None:
    await update(
        conn,
        job_id,
        status=str(status),
        phase=str(JobPhase.FINISHED),
        message=message,
        replay_of=replay_of,
        finished_at=func.clock_timestamp(),
        **vars_of(counts),
    )


def vars_of(counts: Counts) -> dict[str, int]:
    return {name: getattr(counts, name) for name in Counts.__dataclass_fields__}


_RECORD_PROBLEMS = text(
    """
    INSERT INTO import_errors (job_id, line, column_name, code, message, value)
    SELECT :job_id, * FROM unnest(CAST(:line AS int[]), CAST(:column_name AS text[]),
        CAST(:code AS text[]), CAST(:message AS text[]), CAST(:value AS text[]))
    """
)


async def record_problems(
    conn: AsyncConnection, job_id: int, problems: Sequence[RowProblem], already: int = 0
) -> None:
    """Store problems found in Python (the file's shape, the ledger's verdicts); those found
    in SQL are stored there. At most MAX_STORED_PROBLEMS per job, counting `already`."""
    kept = sorted(problems, key=lambda p: p.line or 0)[: max(0, MAX_STORED_PROBLEMS - already)]
    if not kept:
        return
    await conn.execute(
        _RECORD_PROBLEMS,
        {
            "job_id": job_id,
            "line": [p.line for p in kept],
            "column_name": [p.column for p in kept],
            "code": [str(p.code) for p in kept],
            "message": [p.message for p in kept],
            "value": [p.value for p in kept],
        },
    )


_LOCK_HELD = f"""
    EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = CAST({LOCK_SPACE} AS oid) AND l.objid = CAST(j.id AS oid)
    )
"""
_REAP = text(
    f"""
    UPDATE import_jobs j SET status = 'FAILED', phase = 'FINISHED', finished_at = now(),
        message = replace(:message, '{{seen}}', to_char(j.heartbeat_at AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    WHERE j.status = 'RUNNING' AND NOT {_LOCK_HELD}
    RETURNING j.id
    """
)


async def reap_abandoned(conn: AsyncConnection) -> list[int]:
    """Record as FAILED the running jobs whose process has gone."""
    rows = await conn.execute(_REAP, {"message": ABANDONED})
    return [row.id for row in rows]


async def jobs_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, ImportJob]:
    await reap_abandoned(conn)
    rows = await conn.execute(select(import_jobs).where(import_jobs.c.id.in_(ids)))
    return {row.id: ImportJob.from_row(row) for row in rows}


async def get_job(conn: AsyncConnection, job_id: int) -> ImportJob | None:
    return (await jobs_by_ids(conn, [job_id])).get(job_id)


@dataclass(frozen=True)
class JobFilter:
    status: JobStatus | None = None
    actor: str | None = None


def job_listing(filters: JobFilter) -> Listing:
    """Newest first."""
    query = select(import_jobs)
    if filters.status is not None:
        query = query.where(import_jobs.c.status == str(filters.status))
    if filters.actor is not None:
        query = query.where(import_jobs.c.actor == filters.actor)
    return Listing(query, import_jobs.c.id, descending=True)


def error_listing(job_id: int) -> Listing:
    """In the order found: the file's problems by line, then rows the ledger refused."""
    query = select(import_errors).where(import_errors.c.job_id == job_id)
    return Listing(query, import_errors.c.id)
