"""GraphQL types of imports: the job, its problems, and exports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.errors import ErrorCodeEnum
from onhand.api.pagination import Connection, paginate
from onhand.api.permissions import check
from onhand.auth.roles import Permission
from onhand.core.errors import ErrorCode
from onhand.inventory.imports import jobs
from onhand.inventory.imports.jobs import JobPhase, JobStatus
from onhand.inventory.imports.options import ImportMode

ImportModeEnum = strawberry.enum(
    ImportMode,
    name="ImportMode",
    description="SET: Quantity is the count on hand (a stock take; it may dip into safety "
    "stock, never below what reservations and orders hold). ADJUST: Quantity is a change "
    "(+ received, - removed; it may not take available stock below zero).",
)
ImportStatusEnum = strawberry.enum(
    JobStatus,
    name="ImportStatus",
    description="RUNNING, then SUCCEEDED (applied; for a dry run: would apply) or FAILED "
    "(nothing applied: see message and errors).",
)
ImportPhaseEnum = strawberry.enum(JobPhase, name="ImportPhase")


@strawberry.type(
    name="ImportError", description="A problem with one row (or the whole file) of an import."
)
class ImportRowError:
    line: int | None = strawberry.field(
        description="The file's line (the header is line 1); null for the whole file."
    )
    column: str | None
    code: ErrorCodeEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    message: str
    value: str | None = strawberry.field(description="The offending value, as the file had it.")

    @classmethod
    def from_row(cls, row: Any) -> ImportRowError:
        return cls(
            line=row["line"],
            column=row["column_name"],
            code=ErrorCode(row["code"]),
            message=row["message"],
            value=row["value"],
        )


ImportErrorConnection = Connection[ImportRowError]


@strawberry.type(
    description="A CSV import: where it is, what it did, and what was wrong with its file."
)
class ImportJob(relay.Node):
    id: relay.NodeID[int]
    status: ImportStatusEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    phase: ImportPhaseEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    mode: ImportModeEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    dry_run: bool
    allow_partial: bool
    create_missing_products: bool
    file_name: str | None
    file_size: int = strawberry.field(description="Bytes.")
    actor: str = strawberry.field(description="The API token (or CLI user) that ran it.")
    reason: str | None
    rows_total: int = strawberry.field(description="Data rows in the file.")
    rows_done: int = strawberry.field(description="Rows checked and applied (or refused).")
    created: int = strawberry.field(description="Inventory levels created.")
    updated: int = strawberry.field(description="Existing levels changed.")
    unchanged: int = strawberry.field(description="Rows that changed nothing.")
    failed: int = strawberry.field(description="Rows not applied because of a problem.")
    products_created: int
    message: str | None = strawberry.field(description="What happened, in a sentence.")
    reference_id: str = strawberry.field(
        description="The referenceId of every movement this import wrote: filter "
        "inventoryMovements by it to audit the import."
    )
    replay_of: strawberry.Private[int | None]
    created_at: datetime
    heartbeat_at: datetime = strawberry.field(description="The running import's last sign of life.")
    finished_at: datetime | None

    @classmethod
    def from_record(cls, job: jobs.ImportJob) -> ImportJob:
        return cls(
            id=job.id,
            status=JobStatus(job.status),
            phase=JobPhase(job.phase),
            mode=ImportMode(job.mode),
            dry_run=job.dry_run,
            allow_partial=job.allow_partial,
            create_missing_products=job.create_missing_products,
            file_name=job.file_name,
            file_size=job.file_size,
            actor=job.actor,
            reason=job.reason,
            rows_total=job.rows_total,
            rows_done=job.rows_done,
            created=job.created,
            updated=job.updated,
            unchanged=job.unchanged,
            failed=job.failed,
            products_created=job.products_created,
            message=job.message,
            reference_id=job.reference_id,
            replay_of=job.replay_of,
            created_at=job.created_at,
            heartbeat_at=job.heartbeat_at,
            finished_at=job.finished_at,
        )

    @classmethod
    def from_row(cls, row: Any) -> ImportJob:
        return cls.from_record(jobs.ImportJob.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[ImportJob | None]:
        check(info, Permission.MANAGE_STOCK)
        found = await load_jobs(info, ids.node_ids(node_ids, "ImportJob"))
        return [cls.from_record(job) if job else None for job in found]

    @strawberry.field(description="Done as a fraction of the rows, 0 to 1.")
    def progress(self) -> float:
        if self.status != JobStatus.RUNNING:
            return 1.0
        return self.rows_done / self.rows_total if self.rows_total else 0.0

    @strawberry.field(
        description="When this request replayed an earlier import's idempotency key: that import."
    )
    async def replay_of_job(self, info: Info) -> ImportJob | None:
        if self.replay_of is None:
            return None
        [job] = await load_jobs(info, [self.replay_of])
        return ImportJob.from_record(job) if job else None

    @strawberry.field(
        description="Problems found, in the order found: the file's, by line, then the rows "
        "the ledger refused."
    )
    async def errors(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> ImportErrorConnection:
        listing = jobs.error_listing(self.id)
        return await paginate(
            info, listing, ImportRowError.from_row, first, after, ImportErrorConnection
        )


ImportJobConnection = Connection[ImportJob]


async def load_jobs(info: Info, job_ids: list[int]) -> list[jobs.ImportJob | None]:
    loader = info.context.loaders.imports.job
    return list(await loader.load_many(job_ids))


@strawberry.type(description="Stock as CSV, in the columns an import reads back.")
class InventoryExport:
    row_count: int
    columns: list[str]
    csv: str | None = strawberry.field(
        description="The file; null when it has more rows than maxRows (download it instead)."
    )
    file_name: str
    download_url: str = strawberry.field(
        description="GET it with the same Authorization header: streams any number of rows."
    )
