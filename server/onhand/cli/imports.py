"""`onhand import FILE` and `onhand export`: the same import and export as the API, run
against the configured database, with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.config import Settings
from onhand.core.errors import DomainError
from onhand.db.engine import create_engine
from onhand.db.import_tables import import_errors
from onhand.inventory.imports import export
from onhand.inventory.imports.jobs import ImportJob, JobStatus
from onhand.inventory.imports.options import SLICE_ROWS, ImportMode, ImportOptions
from onhand.inventory.imports.progress import Snapshot
from onhand.inventory.imports.runner import run_import
from onhand.inventory.imports.source import ImportFile
from onhand.runtime import database_url, require_migrated

SHOWN_PROBLEMS = 20
PHASES = {
    "PARSING": "reading the file",
    "VALIDATING": "checking every row",
    "APPLYING": "applying",
    "FINISHED": "finished",
}


def import_command(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(stderr=True)
    if args.slice_rows is not None and args.slice_rows < 1:
        console.print("error: --slice-rows must be at least 1")
        return 2
    try:
        # A file is read from where it lies, a batch of rows at a time; stdin cannot be
        # read twice (the digest, then the rows), so it is read whole.
        data = (
            ImportFile.of(sys.stdin.buffer.read())
            if args.file == "-"
            else ImportFile(Path(args.file).open("rb"))  # noqa: SIM115 (closed below)
        )
    except OSError as error:
        console.print(f"error: cannot read {args.file}: {error.strerror}")
        return 2
    try:
        return asyncio.run(_import(args, database_url(settings), data, console))
    finally:
        data.close()


async def _import(args: argparse.Namespace, url: str, data: ImportFile, console: Console) -> int:
    name = "stdin" if args.file == "-" else Path(args.file).name
    options = ImportOptions(
        mode=ImportMode(args.mode),
        dry_run=args.dry_run,
        allow_partial=args.allow_partial,
        create_missing_products=args.create_missing_products,
        idempotency_key=args.idempotency_key,
        reason=args.reason,
        file_name=name,
    )
    engine = create_engine(url)
    try:
        await require_migrated(engine)
        with _bar(console) as bar:
            task = bar.add_task(PHASES["PARSING"], total=None)

            def show(snapshot: Snapshot) -> None:
                bar.update(
                    task,
                    description=PHASES[snapshot.phase],
                    completed=snapshot.rows_done,
                    total=snapshot.rows_total or None,
                )

            def opened(job_id: int) -> None:
                console.print(f"import job {job_id}: {name} ({data.size:,} bytes)")

            job = await run_import(
                engine,
                data,
                options,
                args.actor or f"cli:{getpass.getuser()}",
                on_open=opened,
                listener=show,
                slice_rows=args.slice_rows or SLICE_ROWS,
            )
        await _report(engine, job)
    except DomainError as error:
        console.print(f"error: {error}")
        return 2
    finally:
        await engine.dispose()
    return 0 if job.status == JobStatus.SUCCEEDED else 1


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def _report(engine: AsyncEngine, job: ImportJob) -> None:
    out = Console()
    outcome = "dry run: " if job.dry_run else ""
    out.print(f"{outcome}{job.status}: {job.message}")
    table = Table("rows", "created", "updated", "unchanged", "failed", "new products")
    table.add_row(
        *(
            f"{n:,}"
            for n in (
                job.rows_total,
                job.created,
                job.updated,
                job.unchanged,
                job.failed,
                job.products_created,
            )
        )
    )
    out.print(table)
    if not job.failed and job.status == JobStatus.SUCCEEDED:
        return
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(import_errors)
                .where(import_errors.c.job_id == job.id)
                .order_by(import_errors.c.id)
                .limit(SHOWN_PROBLEMS)
            )
        ).all()
    if rows:
        problems = Table("line", "column", "problem")
        for row in rows:
            problems.add_row(str(row.line or ""), row.column_name or "", row.message)
        out.print(problems)
        if job.failed > len(rows):
            out.print(f"... see importJob {job.id} for every problem")


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    url = database_url(settings)
    if args.output == "-":
        return asyncio.run(_export(args, url, sys.stdout.buffer))
    try:
        with Path(args.output).open("wb") as target:
            return asyncio.run(_export(args, url, target))
    except OSError as error:
        Console(stderr=True).print(f"error: cannot write {args.output}: {error.strerror}")
        return 2


async def _export(args: argparse.Namespace, url: str, target: BinaryIO) -> int:
    console = Console(stderr=True)
    filters = export.ExportFilter(
        warehouse_codes=tuple(args.warehouse),
        skus=tuple(args.sku),
        search=args.search,
        include_zero=not args.exclude_zero,
        below_safety_stock=args.below_safety_stock,
    )
    engine = create_engine(url)
    try:
        await require_migrated(engine)
        try:
            await export.check_filter(engine, filters)
        except DomainError as error:
            console.print(f"error: {error}")
            return 2
        total = await export.count_rows(engine, filters)
        with _bar(console) as bar:
            task = bar.add_task("exporting", total=total)
            written = -1  # the header line is not a row
            async for chunk in export.stream_csv(engine, filters):
                target.write(chunk)
                written += chunk.count(b"\n")
                bar.update(task, completed=max(0, written))
        target.flush()
        if args.output != "-":
            console.print(f"exported {total:,} rows to {args.output}")
    finally:
        await engine.dispose()
    return 0
