"""The imports running in this process: started in the background, kept referenced until
they end, and stopped (rolled back, their jobs marked FAILED) when the process stops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.imports.jobs import ImportJob
from onhand.inventory.imports.options import ImportOptions
from onhand.inventory.imports.runner import run_import
from onhand.inventory.imports.source import ImportFile


class ImportTasks:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.running: set[asyncio.Task[ImportJob]] = set()

    async def start(
        self, data: ImportFile, options: ImportOptions, actor: str
    ) -> tuple[int, asyncio.Task[ImportJob]]:
        """Start an import; return its job id as soon as the job exists (or, for a replayed
        idempotency key, the earlier job's), and the task to await for its end. The file is
        the import's from now on: closed (an upload's temporary file removed) when it ends,
        which may be after the request that sent it has been answered."""
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[int] = loop.create_future()
        task = asyncio.create_task(
            run_import(self.engine, data, options, actor, on_open=opened.set_result),
            name="onhand-import",
        )
        self.running.add(task)
        task.add_done_callback(self._ended)
        task.add_done_callback(lambda _: data.close())
        first: set[asyncio.Future[Any]] = {opened, task}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if opened.done():
            return opened.result(), task
        return task.result().id, task  # a replay, or refused before a job was opened

    def _ended(self, task: asyncio.Task[ImportJob]) -> None:
        self.running.discard(task)
        if not task.cancelled():
            # Its failure is logged and recorded on its job (runner.py), whether or not a
            # request still waits for it: taken here, asyncio does not report it again.
            task.exception()

    async def stop(self) -> None:
        for task in list(self.running):
            task.cancel()
        for task in list(self.running):
            with contextlib.suppress(BaseException):
                await task
