"""importInventory: a CSV file (uploaded, or as text) applied as one change."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.file_uploads import Upload

from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.imports.types import ImportJob, ImportModeEnum, load_jobs
from onhand.api.permissions import mutate
from onhand.auth.roles import Permission
from onhand.core.errors import Collector, ErrorCode
from onhand.db.import_tables import import_errors
from onhand.inventory.imports.jobs import JobStatus
from onhand.inventory.imports.options import MAX_FILE_BYTES, ImportMode, ImportOptions
from onhand.inventory.imports.source import ImportFile

# CSV sent as a GraphQL string: for small files; larger ones are uploaded.
MAX_CSV_TEXT = 5 * 1024 * 1024
# A refused import's payload names its first problems; the job lists them all.
ERRORS_IN_PAYLOAD = 100


@strawberry.input(description="Stock from a CSV file: one row per product and warehouse.")
class ImportInventoryInput:
    file: Upload | None = strawberry.field(
        default=None,
        description="The CSV file, sent as a multipart request (the GraphQL multipart request "
        "spec, as Apollo's and urql's upload links send it).",
    )
    csv: str | None = strawberry.field(
        default=None, description="The CSV as text, for small files (at most 5 MB)."
    )
    file_name: str | None = strawberry.field(
        default=None, description="A name for the CSV text (an upload has its own)."
    )
    mode: ImportModeEnum = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        default=ImportMode.SET,
        description="SET (the default): Quantity is the count on hand. ADJUST: a change.",
    )
    dry_run: bool = strawberry.field(
        default=False, description="Check and judge every row, report, apply nothing."
    )
    allow_partial: bool = strawberry.field(
        default=False,
        description="Apply the good rows and list the bad ones, instead of refusing the file.",
    )
    create_missing_products: bool = strawberry.field(
        default=False,
        description="Create products for unknown SKUs, named by ProductName (else the SKU).",
    )
    background: bool = strawberry.field(
        default=False,
        description="Answer at once with the running job; follow it with importJob or the "
        "importProgress subscription. For large files, which take longer than a client or "
        "proxy may wait for an answer.",
    )
    reason: str | None = strawberry.field(
        default=None, description="Recorded on every movement (default: the file's name)."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="The same file with the same key is applied once: a replay answers with "
        "the first import's job.",
    )


@strawberry.type
class ImportInventoryPayload:
    job: ImportJob | None = None
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why the import was refused (its first problems; job.errors has all).",
    )
    skipped_rows: list[UserError] = strawberry.field(
        default_factory=list,
        description="With allowPartial: the first rows left out and why (job.failed counts "
        "them all, job.errors pages them). Empty when every row was applied.",
    )


@strawberry.type
class ImportMutation:
    @strawberry.mutation(
        description="Import stock from CSV (columns SKU or ProductID, WarehouseCode, Quantity, "
        "and optionally SafetyStock, ReorderPoint, ReorderQuantity, ProductName). Every row is "
        "checked before anything is written; the rows are applied in one transaction, all or "
        "nothing unless allowPartial."
    )
    async def import_inventory(
        self, info: Info, input: ImportInventoryInput
    ) -> ImportInventoryPayload:
        async def work(context: Context) -> ImportInventoryPayload:
            data, name = await _read(input)
            principal = context.require(Permission.MANAGE_STOCK)
            if input.create_missing_products:
                context.require(Permission.MANAGE_PRODUCTS)
            options = ImportOptions(
                mode=ImportMode(input.mode),
                dry_run=input.dry_run,
                allow_partial=input.allow_partial,
                create_missing_products=input.create_missing_products,
                idempotency_key=input.idempotency_key,
                reason=input.reason,
                file_name=name,
            )
            job_id, task = await context.services.import_tasks.start(data, options, principal.name)
            if not input.background:
                # Shielded: a client that stops waiting does not stop the import.
                await asyncio.shield(task)
            [job] = await load_jobs(info, [job_id])
            assert job is not None
            payload = ImportInventoryPayload(job=ImportJob.from_record(job))
            if job.status == JobStatus.FAILED:
                payload.errors = await _first_problems(context, job.id, job.message)
            elif job.failed:
                payload.skipped_rows = await _first_problems(context, job.id, job.message)
            return payload

        return await mutate(info, Permission.MANAGE_STOCK, ImportInventoryPayload, work)


async def _read(input: ImportInventoryInput) -> tuple[ImportFile, str | None]:
    errors = Collector()
    if (input.file is None) == (input.csv is None):
        errors.add(ErrorCode.REQUIRED, "give either file (an upload) or csv (text)", "file")
    elif input.csv is not None and len(input.csv) > MAX_CSV_TEXT:
        errors.invalid("csv", "csv text is limited to 5 MB: upload larger files as file")
    upload: Any = input.file
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_FILE_BYTES:
        errors.invalid("file", f"the file is {size:,} bytes; at most {MAX_FILE_BYTES:,}")
    errors.raise_if_any()
    if input.csv is not None:
        # A lone surrogate passes as bytes that are not UTF-8: the parser names its line.
        return ImportFile.of(input.csv.encode(errors="surrogatepass")), input.file_name
    # The upload as received: spooled to a temporary file past its first megabyte (by
    # Starlette's multipart parser), and read from there a batch of rows at a time.
    return ImportFile(upload.file, size), getattr(upload, "filename", None) or input.file_name


async def _first_problems(context: Context, job_id: int, message: str | None) -> list[UserError]:
    async with context.services.engine.connect() as conn:
        rows = await conn.execute(
            select(import_errors)
            .where(import_errors.c.job_id == job_id)
            .order_by(import_errors.c.line.nulls_first(), import_errors.c.id)
            .limit(ERRORS_IN_PAYLOAD)
        )
        problems = [
            UserError(
                field=".".join(
                    str(part) for part in ("file", row.line, row.column_name) if part is not None
                ),
                message=f"line {row.line}: {row.message}" if row.line else row.message,
                code=ErrorCode(row.code),
            )
            for row in rows
        ]
    return problems or [UserError(field="file", message=message or "", code=ErrorCode.INVALID)]
