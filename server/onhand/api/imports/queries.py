"""Import jobs, and stock exported as CSV."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import strawberry
from graphql import GraphQLError

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.imports.types import (
    ImportJob,
    ImportJobConnection,
    ImportStatusEnum,
    InventoryExport,
    load_jobs,
)
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError
from onhand.inventory.imports import export
from onhand.inventory.imports.columns import EXPORTED
from onhand.inventory.imports.jobs import JobFilter, JobStatus, job_listing, reap_abandoned

IMPORTS = [requires(Permission.MANAGE_STOCK)]
STOCK = [requires(Permission.READ_STOCK)]
DOWNLOAD_PATH = "/exports/inventory.csv"
MAX_INLINE_ROWS = 50_000


@strawberry.input(description="Which levels to export (all of them by default).")
class InventoryExportFilter:
    warehouse_codes: list[str] | None = None
    skus: list[str] | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the SKU or product name, any case."
    )
    include_zero: bool = strawberry.field(
        default=True, description="Also levels with nothing on hand, held or incoming."
    )
    below_safety_stock: bool = strawberry.field(
        default=False, description="Only levels with nothing available above safety stock."
    )

    def to_domain(self) -> export.ExportFilter:
        return export.ExportFilter(
            warehouse_codes=tuple(self.warehouse_codes or ()),
            skus=tuple(self.skus or ()),
            search=self.search,
            include_zero=self.include_zero,
            below_safety_stock=self.below_safety_stock,
        )

    def to_query_string(self) -> str:
        params: list[tuple[str, str]] = [("warehouseCode", c) for c in self.warehouse_codes or ()]
        params += [("sku", s) for s in self.skus or ()]
        if self.search:
            params.append(("search", self.search))
        if not self.include_zero:
            params.append(("includeZero", "false"))
        if self.below_safety_stock:
            params.append(("belowSafetyStock", "true"))
        return urlencode(params)


@strawberry.type
class ImportQuery:
    @strawberry.field(permission_classes=IMPORTS, description="One import, by its id.")
    async def import_job(self, info: Info, id: strawberry.ID) -> ImportJob | None:
        try:
            job_id = ids.decode(id, "ImportJob", "id")
        except DomainError as error:
            raise GraphQLError(str(error), extensions={"code": "BAD_USER_INPUT"}) from error
        [job] = await load_jobs(info, [job_id])
        return ImportJob.from_record(job) if job else None

    @strawberry.field(permission_classes=IMPORTS, description="Imports, newest first.")
    async def import_jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: ImportStatusEnum | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    ) -> ImportJobConnection:
        # Jobs whose process died are marked FAILED before they are listed.
        async with info.context.services.engine.begin() as conn:
            await reap_abandoned(conn)
        listing = job_listing(JobFilter(status=JobStatus(status) if status else None))
        return await paginate(info, listing, ImportJob.from_row, first, after, ImportJobConnection)

    @strawberry.field(
        permission_classes=STOCK,
        description="Stock as CSV (ProductID, ProductName, SKU, WarehouseCode, Quantity, "
        "Reserved, Available, SafetyStock, ReorderPoint, ReorderQuantity), ordered by SKU and "
        "warehouse. Imported back as it is, it changes nothing. Larger exports: downloadUrl.",
    )
    async def export_inventory(
        self,
        info: Info,
        filter: InventoryExportFilter | None = None,
        max_rows: Annotated[
            int,
            strawberry.argument(
                description=f"Give csv only up to this many rows (at most {MAX_INLINE_ROWS:,})."
            ),
        ] = 10_000,
    ) -> InventoryExport:
        if not 0 <= max_rows <= MAX_INLINE_ROWS:
            raise GraphQLError(
                f"maxRows must be between 0 and {MAX_INLINE_ROWS:,}",
                extensions={"code": "BAD_USER_INPUT", "field": "maxRows"},
            )
        given = filter or InventoryExportFilter()
        engine = info.context.services.engine
        try:
            await export.check_filter(engine, given.to_domain())
        except DomainError as error:
            [problem] = error.problems
            field = {"warehouseCode": "warehouseCodes", "sku": "skus"}[problem.field or ""]
            raise GraphQLError(
                str(error), extensions={"code": str(problem.code), "field": f"filter.{field}"}
            ) from error
        rows = await export.count_rows(engine, given.to_domain())
        csv = await export.export_csv(engine, given.to_domain()) if rows <= max_rows else None
        query = given.to_query_string()
        return InventoryExport(
            row_count=rows,
            columns=[str(c) for c in EXPORTED],
            csv=csv,
            file_name=export.file_name(),
            download_url=_base_url(info) + DOWNLOAD_PATH + (f"?{query}" if query else ""),
        )


def _base_url(info: Info) -> str:
    request = info.context.request
    base = getattr(request, "base_url", None)
    return str(base).rstrip("/") if base is not None else ""
