"""Stock queries: one level, lists of levels, per-product summaries and the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from onhand.api.context import Info
from onhand.api.inputs import filter_id, product_ref, warehouse_ref
from onhand.api.inventory.types import (
    InventoryLevel,
    InventoryLevelConnection,
    InventoryMovement,
    InventoryMovementConnection,
    InventorySummary,
    MovementSource,
    MovementType,
)
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.inventory.levels import LevelFilter, level_listing
from onhand.inventory.movements import MovementFilter, movement_listing
from onhand.inventory.refs import resolve_product, resolve_warehouse

STOCK = [requires(Permission.READ_STOCK)]
AUDIT = [requires(Permission.READ_AUDIT)]


@strawberry.input
class InventoryMovementFilter:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    types: list[MovementType] | None = None
    sources: list[MovementSource] | None = None
    reference_id: str | None = None
    since: datetime | None = strawberry.field(default=None, description="Recorded at or after.")
    until: datetime | None = strawberry.field(default=None, description="Recorded before.")


def _product(product_id: str | None, sku: str | None) -> Ref | None:
    return None if product_id is None and sku is None else product_ref(product_id, sku)


def _warehouse(warehouse_id: str | None, code: str | None) -> Ref | None:
    return None if warehouse_id is None and code is None else warehouse_ref(warehouse_id, code)


@strawberry.type
class InventoryQuery:
    @strawberry.field(
        permission_classes=STOCK,
        description="The stock of one product at one warehouse (by ids or by sku and code). "
        "Without a warehouse it is refused (REQUIRED, field warehouseId): a product across "
        "warehouses is inventorySummary(productId:) { levels { ... } }.",
    )
    async def inventory_level(
        self,
        info: Info,
        product_id: strawberry.ID | None = None,
        warehouse_id: strawberry.ID | None = None,
        sku: str | None = None,
        warehouse_code: str | None = None,
    ) -> InventoryLevel | None:
        named = product_ref(product_id, sku)
        if warehouse_id is None and warehouse_code is None:
            raise DomainError.of(
                ErrorCode.REQUIRED,
                "inventoryLevel is one product at one warehouse: give warehouseId or"
                " warehouseCode. For the product at every warehouse, query"
                " inventorySummary(productId:) { levels { ... } } (or product(id:)"
                " { inventoryLevels { ... } })",
                "warehouseId",
            )
        product = await filter_id(info, named, resolve_product)
        warehouse = await filter_id(
            info, warehouse_ref(warehouse_id, warehouse_code), resolve_warehouse
        )
        level = await info.context.loaders.level_by_pair.load((product, warehouse))
        return InventoryLevel.from_record(level) if level else None

    @strawberry.field(permission_classes=STOCK)
    async def inventory_levels(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        warehouse_id: strawberry.ID | None = None,
        warehouse_code: str | None = None,
        product_id: strawberry.ID | None = None,
        sku: str | None = None,
        below_safety_stock: Annotated[
            bool, strawberry.argument(description="Only levels with nothing above safety stock.")
        ] = False,
        include_zero: Annotated[
            bool, strawberry.argument(description="Also levels with no stock, held or incoming.")
        ] = False,
        available_at_most: Annotated[
            int | None,
            strawberry.argument(
                description="Only levels with at most this many available (low or out of"
                " stock: what a bulk LOW_STOCK alert's summary lists)."
            ),
        ] = None,
    ) -> InventoryLevelConnection:
        product = await filter_id(info, _product(product_id, sku), resolve_product)
        warehouse = await filter_id(
            info, _warehouse(warehouse_id, warehouse_code), resolve_warehouse
        )
        listing = level_listing(
            LevelFilter(
                warehouse_id=warehouse,
                product_id=product,
                below_safety_stock=below_safety_stock,
                include_zero=include_zero,
                available_at_most=available_at_most,
            )
        )
        return await paginate(
            info, listing, InventoryLevel.from_row, first, after, InventoryLevelConnection
        )

    @strawberry.field(
        permission_classes=STOCK,
        description="A product's stock across all warehouses, with the per-warehouse breakdown.",
    )
    async def inventory_summary(
        self, info: Info, product_id: strawberry.ID | None = None, sku: str | None = None
    ) -> InventorySummary | None:
        product = await filter_id(info, product_ref(product_id, sku), resolve_product)
        record = await info.context.loaders.product.load(product)
        if record is None:
            return None
        totals = await info.context.loaders.totals_of_product.load(product)
        return InventorySummary.from_totals(totals)

    @strawberry.field(permission_classes=AUDIT, description="The ledger, newest first.")
    async def inventory_movements(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: InventoryMovementFilter | None = None,
    ) -> InventoryMovementConnection:
        given = filter or InventoryMovementFilter()
        product = await filter_id(info, _product(given.product_id, given.sku), resolve_product)
        warehouse = await filter_id(
            info, _warehouse(given.warehouse_id, given.warehouse_code), resolve_warehouse
        )
        listing = movement_listing(
            MovementFilter(
                product_id=product,
                warehouse_id=warehouse,
                types=[str(t) for t in given.types or []],
                sources=[str(s) for s in given.sources or []],
                reference_id=given.reference_id,
                since=given.since,
                until=given.until,
            )
        )
        return await paginate(
            info, listing, InventoryMovement.from_row, first, after, InventoryMovementConnection
        )
