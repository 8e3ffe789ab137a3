"""Reporting a running import: its phase and rows done, written to its job row on connections
of their own (so that they are visible while the import's transaction runs), a heartbeat while
a long statement runs, and the same news to a listener in this process (the CLI's bar)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.failures import Failures
from onhand.db.import_tables import import_jobs
from onhand.inventory.imports.jobs import JobPhase

HEARTBEAT_SECONDS = 2.0
# Progress is written at most this often (the last of a phase always is).
WRITE_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Snapshot:
    job_id: int
    phase: JobPhase
    rows_done: int
    rows_total: int


Listener = Callable[[Snapshot], None]


class Reporter:
    def __init__(self, engine: AsyncEngine, job_id: int, listener: Listener | None = None) -> None:
        self.engine = engine
        self.job_id = job_id
        self.listener = listener
        self.snapshot = Snapshot(job_id, JobPhase.PARSING, 0, 0)
        self._written_at = 0.0

    async def phase(self, phase: JobPhase, *, rows_done: int = 0, rows_total: int = -1) -> None:
        total = self.snapshot.rows_total if rows_total < 0 else rows_total
        await self._report(Snapshot(self.job_id, phase, rows_done, total), force=True)

    async def rows(self, rows_done: int) -> None:
        current = self.snapshot
        snapshot = Snapshot(self.job_id, current.phase, rows_done, current.rows_total)
        await self._report(snapshot, force=rows_done >= current.rows_total)

    def finished(self, rows_done: int) -> None:
        """The end, for the listener (the job row itself says so already)."""
        current = self.snapshot
        self.snapshot = Snapshot(self.job_id, JobPhase.FINISHED, rows_done, current.rows_total)
        if self.listener is not None:
            self.listener(self.snapshot)

    async def _report(self, snapshot: Snapshot, *, force: bool) -> None:
        self.snapshot = snapshot
        if self.listener is not None:
            self.listener(snapshot)
        loop = asyncio.get_running_loop()
        if force or loop.time() - self._written_at >= WRITE_SECONDS:
            self._written_at = loop.time()
            await self._write(
                phase=str(snapshot.phase),
                rows_done=snapshot.rows_done,
                rows_total=snapshot.rows_total,
            )

    async def _write(self, **values: object) -> None:
        # Only while running: a late write must not undo the job's end.
        async with self.engine.begin() as conn:
            await conn.execute(
                import_jobs.update()
                .where(import_jobs.c.id == self.job_id, import_jobs.c.status == "RUNNING")
                .values(**values, heartbeat_at=func.now())
            )

    async def beat(self) -> None:
        """Until cancelled: a sign of life every HEARTBEAT_SECONDS. A missed beat is no
        reason to stop (if the database is gone, the import itself fails and says so)."""
        failures = Failures(f"the heartbeat of import {self.job_id}")
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._write()
            except Exception as error:
                failures.failed(error)
            else:
                failures.recovered()
