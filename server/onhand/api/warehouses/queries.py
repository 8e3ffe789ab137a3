"""Warehouse queries."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.api.warehouses.types import Warehouse, WarehouseCapability, WarehouseConnection
from onhand.auth.roles import Permission
from onhand.inventory.warehouses import WarehouseFilter, warehouse_listing

CATALOG = [requires(Permission.READ_CATALOG)]


@strawberry.input
class WarehouseFilterInput:
    is_active: bool | None = None
    capability: WarehouseCapability | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    search: str | None = strawberry.field(default=None, description="Part of a code or name.")
    codes: list[str] | None = None


@strawberry.type
class WarehouseQuery:
    @strawberry.field(permission_classes=CATALOG, description="One warehouse, by id or by code.")
    async def warehouse(
        self, info: Info, id: strawberry.ID | None = None, code: str | None = None
    ) -> Warehouse | None:
        loaders = info.context.loaders
        if id is not None:
            record = await loaders.warehouse.load(ids.decode(id, "Warehouse", "id"))
        elif code is not None:
            record = await loaders.warehouse_by_code.load(code)
        else:
            return None
        return Warehouse.from_record(record) if record else None

    @strawberry.field(permission_classes=CATALOG)
    async def warehouses(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: WarehouseFilterInput | None = None,
    ) -> WarehouseConnection:
        given = filter or WarehouseFilterInput()
        listing = warehouse_listing(
            WarehouseFilter(
                is_active=given.is_active,
                capability=given.capability,
                search=given.search,
                codes=given.codes or [],
            )
        )
        return await paginate(info, listing, Warehouse.from_row, first, after, WarehouseConnection)
