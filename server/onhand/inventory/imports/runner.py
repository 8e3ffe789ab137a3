"""Running an import from start to end: a job opened, the file parsed, staged and checked,
the good rows applied in one transaction, the outcome recorded on the job.

The work is done on a connection of its own (it holds the job's lock, the temporary tables and
the import's transaction; closing it undoes whatever was not committed). Progress goes to the
job row on the shared engine's connections, outside that transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from onhand.core.errors import DomainError
from onhand.db.statistics import BULK_ROWS, analyze_soon
from onhand.db.transactions import RETRYABLE, sqlstate
from onhand.inventory.idempotency import IdempotencyClaim, claim_for, claim_key, remember
from onhand.inventory.imports import jobs
from onhand.inventory.imports.applying import ImportRefusedError, apply_rows
from onhand.inventory.imports.checks import check
from onhand.inventory.imports.jobs import Counts, ImportJob, JobPhase, JobStatus
from onhand.inventory.imports.options import SLICE_ROWS, ImportOptions
from onhand.inventory.imports.parsing import CsvReader
from onhand.inventory.imports.problems import FileRefusedError, RowProblem
from onhand.inventory.imports.progress import Listener, Reporter
from onhand.inventory.imports.source import ImportFile
from onhand.inventory.imports.staging import stage
from onhand.inventory.ledger import ChangeContext, MovementSource

log = logging.getLogger(__name__)

OPERATION = "importInventory"
ATTEMPTS = 3
# What an import writes, analyzed after a large one.
WRITTEN_TABLES = ("outbox", "inventory_movements", "inventory_levels", "products")


async def run_import(
    engine: AsyncEngine,
    data: bytes | ImportFile,
    options: ImportOptions,
    actor: str,
    *,
    on_open: Callable[[int], None] | None = None,
    listener: Listener | None = None,
    slice_rows: int = SLICE_ROWS,
) -> ImportJob:
    """Import `data` (a CSV file, or its bytes) and return its finished job. A replay of an
    idempotency key returns the job that first used it, without running again."""
    source = ImportFile.of(data)
    # Read once more than the rows are, a chunk at a time, off the event loop.
    digest = await asyncio.to_thread(source.sha256)
    claim = (
        None
        if options.dry_run
        else claim_for(
            OPERATION,
            options.idempotency_key,
            {
                "sha256": digest,
                "mode": str(options.mode),
                "allow_partial": options.allow_partial,
                "create_missing_products": options.create_missing_products,
                "reason": options.reason,
            },
        )
    )
    if claim is not None:
        earlier = await _replayed(engine, claim, actor)
        if earlier is not None:
            return earlier
    work_engine = _work_engine(engine)
    try:
        async with work_engine.connect() as work:
            job_id = await jobs.open_job(
                work,
                actor,
                options,
                file_size=source.size,
                file_sha256=digest,
            )
            if on_open is not None:
                on_open(job_id)
            reporter = Reporter(engine, job_id, listener)
            heartbeat = asyncio.create_task(reporter.beat(), name=f"onhand-import-{job_id}-beat")
            try:
                run = _Run(engine, work, job_id, options, actor, claim, reporter, slice_rows)
                await run.go(source)
            except BaseException as error:
                await _record_crash(engine, job_id, error)
                raise
            finally:
                heartbeat.cancel()
    finally:
        await work_engine.dispose()
    job = await _job(engine, job_id)
    if (
        job.status == JobStatus.SUCCEEDED
        and not options.dry_run
        and job.created + job.updated + job.products_created >= BULK_ROWS
    ):
        # While the relay publishes the import's events, not before the answer.
        analyze_soon(engine, WRITTEN_TABLES)
    log.info(
        "import %s %s: %d rows (%d created, %d updated, %d unchanged, %d failed)",
        job.id,
        job.status,
        job.rows_total,
        job.created,
        job.updated,
        job.unchanged,
        job.failed,
        extra={
            "run": "import",
            "job_id": job.id,
            "status": str(job.status),
            "rows": job.rows_total,
            "levels_created": job.created,
            "updated": job.updated,
            "unchanged": job.unchanged,
            "failed": job.failed,
            "actor": actor,
        },
    )
    return job


def _work_engine(engine: AsyncEngine) -> AsyncEngine:
    """One connection, not from the pool: its session state (lock, temporary tables, settings)
    ends with it."""
    return create_async_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={
            "server_settings": {
                "application_name": "onhand-import",
                "jit": "off",
                # Room for the sorts and hashes of a few hundred thousand rows in memory.
                "work_mem": "64MB",
                # A client that died in the middle of a long statement is noticed within a
                # second (the transaction is rolled back and the job's lock let go).
                "client_connection_check_interval": "1000",
            }
        },
    )


class _Run:
    def __init__(
        self,
        engine: AsyncEngine,
        work: AsyncConnection,
        job_id: int,
        options: ImportOptions,
        actor: str,
        claim: IdempotencyClaim | None,
        reporter: Reporter,
        slice_rows: int,
    ) -> None:
        self.engine = engine
        self.work = work
        self.job_id = job_id
        self.options = options
        self.actor = actor
        self.claim = claim
        self.reporter = reporter
        self.slice_rows = slice_rows
        self.reference = jobs.reference_of(job_id)

    async def go(self, source: ImportFile) -> None:
        try:
            # Reading a large file takes CPU: off the event loop (as each batch of rows is),
            # so that the server answers other requests meanwhile.
            reader = await asyncio.to_thread(CsvReader.open, source)
            await stage(self.work, reader)
        except FileRefusedError as refused:
            await self.work.rollback()
            await self._fail(Counts(), refused.problems, _refused_file(refused.problems))
            return
        parsed = reader.parsed
        total = parsed.rows_total
        await self.reporter.phase(JobPhase.VALIDATING, rows_total=total)
        checked = await check(self.work, self.job_id, parsed, self.options)
        await self.work.commit()
        if checked.failed == total or (checked.failed and not self.options.allow_partial):
            verb = "would be" if self.options.dry_run else "was"
            await self._fail(
                Counts(rows_total=total, rows_done=total, failed=checked.failed),
                [],
                f"{checked.failed} of {total} rows have problems (see errors): nothing {verb}"
                " applied",
            )
            return
        await self.reporter.phase(JobPhase.APPLYING, rows_done=checked.failed)
        for attempt in range(ATTEMPTS):
            try:
                await self._apply(total, checked.failed)
                return
            except DBAPIError as error:
                await self.work.rollback()
                if sqlstate(error) not in RETRYABLE or attempt == ATTEMPTS - 1:
                    raise
                log.info("import %s met a deadlock; trying again", self.job_id)

    async def _apply(self, total: int, invalid: int) -> None:
        work, options = self.work, self.options
        replay = await claim_key(work, self.claim, self.actor)
        if replay is not None:
            # A request with the same key finished first, while this one was being checked.
            await work.rollback()
            await self._finish_replay(int(replay["job_id"]))
            return
        context = ChangeContext(
            actor=self.actor, source=MovementSource.IMPORT, correlation_id=self.reference
        )

        async def progress(rows: int) -> None:
            await self.reporter.rows(invalid + rows)

        try:
            applied = await apply_rows(
                work,
                options,
                context,
                reason=options.reason or _default_reason(options),
                reference=self.reference,
                progress=progress,
                slice_rows=self.slice_rows,
            )
        except (ImportRefusedError, DomainError) as refused:
            await work.rollback()
            problems = (
                refused.problems
                if isinstance(refused, ImportRefusedError)
                else [RowProblem(None, None, p.code, p.message) for p in refused.problems]
            )
            verb = "would be" if options.dry_run else "was"
            await self._fail(
                Counts(rows_total=total, rows_done=total, failed=len(problems)),
                problems,
                f"the ledger refused {len(problems)} rows (see errors): nothing {verb} applied",
            )
            return
        counts = Counts(
            rows_total=total,
            rows_done=total,
            created=applied.created,
            updated=applied.updated,
            unchanged=applied.unchanged,
            failed=invalid + len(applied.refused),
            products_created=applied.products_created,
        )
        message = _summary(counts, options)
        if options.dry_run:
            await work.rollback()
            async with self.engine.begin() as conn:
                await jobs.record_problems(conn, self.job_id, applied.refused, already=invalid)
                await jobs.finish(conn, self.job_id, JobStatus.SUCCEEDED, counts, message)
            self.reporter.finished(total)
            return
        # The job's success is recorded in the import's own transaction: a job is SUCCEEDED
        # exactly when its rows were applied.
        await jobs.record_problems(work, self.job_id, applied.refused, already=invalid)
        await jobs.finish(work, self.job_id, JobStatus.SUCCEEDED, counts, message)
        await remember(work, self.claim, {"job_id": self.job_id})
        await work.commit()
        self.reporter.finished(total)

    async def _fail(self, counts: Counts, problems: list[RowProblem], message: str) -> None:
        async with self.engine.begin() as conn:
            await jobs.record_problems(conn, self.job_id, problems)
            await jobs.finish(conn, self.job_id, JobStatus.FAILED, counts, message)
        self.reporter.finished(counts.rows_done)

    async def _finish_replay(self, first: int) -> None:
        async with self.engine.begin() as conn:
            await jobs.finish(
                conn,
                self.job_id,
                JobStatus.SUCCEEDED,
                Counts(),
                f"the same file with the same idempotencyKey was imported by job {first}:"
                " nothing was applied again",
                replay_of=first,
            )


async def _replayed(engine: AsyncEngine, claim: IdempotencyClaim, actor: str) -> ImportJob | None:
    """The job an earlier request with this key made, when it committed; IDEMPOTENCY_KEY_REUSED
    when that request was a different one."""
    async with engine.begin() as conn:
        replay = await claim_key(conn, claim, actor)
        # Only a look: the claim itself is made in the import's transaction.
        await conn.rollback()
    if replay is None:
        return None
    return await _job(engine, int(replay["job_id"]))


async def _job(engine: AsyncEngine, job_id: int) -> ImportJob:
    async with engine.begin() as conn:
        job = await jobs.get_job(conn, job_id)
    assert job is not None
    return job


async def _record_crash(engine: AsyncEngine, job_id: int, error: BaseException) -> None:
    """The import stopped on something unexpected (or was cancelled, as when the server
    stops): its transaction is rolled back, and the job says so."""
    message = (
        "the import was stopped (the server shut down): nothing was applied"
        if isinstance(error, asyncio.CancelledError)
        else f"the import failed unexpectedly ({type(error).__name__}): nothing was applied"
    )
    if not isinstance(error, asyncio.CancelledError):
        log.exception("import %s failed", job_id, exc_info=error)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE import_jobs SET status = 'FAILED', phase = 'FINISHED',"
                    " finished_at = clock_timestamp(), message = :message"
                    " WHERE id = :id AND status = 'RUNNING'"
                ),
                {"id": job_id, "message": message},
            )
    except Exception:  # the database may be what failed: the job is reaped later
        log.warning("could not record the failure of import %s", job_id)


def _default_reason(options: ImportOptions) -> str:
    return f"CSV import {options.file_name}" if options.file_name else "CSV import"


def _refused_file(problems: list[RowProblem]) -> str:
    return f"the file cannot be imported: {problems[0].message}" + (
        f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    )


def _summary(counts: Counts, options: ImportOptions) -> str:
    if options.dry_run:
        verbs = ("would create", "update", "leave", "create", "skip")
    else:
        verbs = ("created", "updated", "left", "created", "skipped")
    parts = [
        f"{verbs[0]} {counts.created:,} levels",
        f"{verbs[1]} {counts.updated:,}",
        f"{verbs[2]} {counts.unchanged:,} unchanged",
    ]
    if counts.products_created:
        parts.append(f"{verbs[3]} {counts.products_created:,} products")
    if counts.failed:
        parts.append(f"{verbs[4]} {counts.failed:,} rows with problems")
    return ", ".join(parts)
