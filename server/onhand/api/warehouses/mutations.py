"""Warehouse mutations (admins only)."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import provided, warehouse_ref
from onhand.api.permissions import mutate
from onhand.api.warehouses.types import Warehouse, WarehouseCapability
from onhand.auth.roles import Permission
from onhand.inventory import warehouses
from onhand.inventory.refs import resolve_warehouses

# A warehouse is a pickup location when its capabilities include PICKUP; these describe it.
PICKUP_INSTRUCTIONS = strawberry.field(
    default=None,
    description="What a customer collecting here is told (at most 500 characters; null clears).",
)
PICKUP_HOURS = strawberry.field(
    default=None, description="When orders can be collected here (at most 500 characters)."
)
TRANSFER_LEAD_HOURS = strawberry.field(
    default=None,
    description="Hours (0 to 2160) stock transferred in from another warehouse takes to be "
    "ready here; null: transfers in are not offered for pickup.",
)


@strawberry.input(description="Omitted parts are left as they are (on update) or empty.")
class AddressInput:
    street: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    state: str | None = strawberry.UNSET
    postal_code: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    latitude: float | None = strawberry.UNSET
    longitude: float | None = strawberry.UNSET


@strawberry.input
class CreateWarehouseInput:
    name: str
    code: str = strawberry.field(description="Unique, e.g. DC-001.")
    address: AddressInput | None = None
    timezone: str = strawberry.field(default="UTC", description="IANA name.")
    is_active: bool = True
    priority: int = 0
    capabilities: list[WarehouseCapability] = strawberry.field(default_factory=list)  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    allow_backorders: bool = False
    pickup_instructions: str | None = PICKUP_INSTRUCTIONS
    pickup_hours: str | None = PICKUP_HOURS
    transfer_lead_hours: int | None = TRANSFER_LEAD_HOURS


@strawberry.input
class UpdateWarehouseInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The warehouse to change, or name it by warehouseCode."
    )
    warehouse_code: str | None = strawberry.field(
        default=None, description="The warehouse to change by its code (code: its new code)."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse the edit (VERSION_CONFLICT) unless at this version."
    )
    name: str | None = strawberry.UNSET
    code: str | None = strawberry.UNSET
    address: AddressInput | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    priority: int | None = strawberry.UNSET
    capabilities: list[WarehouseCapability] | None = strawberry.UNSET  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    allow_backorders: bool | None = strawberry.UNSET
    pickup_instructions: str | None = strawberry.field(
        default=strawberry.UNSET, description=PICKUP_INSTRUCTIONS.description
    )
    pickup_hours: str | None = strawberry.field(
        default=strawberry.UNSET, description=PICKUP_HOURS.description
    )
    transfer_lead_hours: int | None = strawberry.field(
        default=strawberry.UNSET, description=TRANSFER_LEAD_HOURS.description
    )


@strawberry.type
class CreateWarehousePayload:
    warehouse: Warehouse | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateWarehousePayload:
    warehouse: Warehouse | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _address(address: AddressInput | None) -> dict[str, Any]:
    return provided(address) if address is not None else {}


@strawberry.type
class WarehouseMutation:
    @strawberry.mutation
    async def create_warehouse(
        self, info: Info, input: CreateWarehouseInput
    ) -> CreateWarehousePayload:
        async def work(context: Context) -> CreateWarehousePayload:
            values = provided(input, exclude={"address"}) | _address(input.address)
            record = await context.transaction(
                lambda conn: warehouses.create_warehouse(conn, values)
            )
            return CreateWarehousePayload(warehouse=Warehouse.from_record(record))

        return await mutate(info, Permission.MANAGE_WAREHOUSES, CreateWarehousePayload, work)

    @strawberry.mutation
    async def update_warehouse(
        self, info: Info, input: UpdateWarehouseInput
    ) -> UpdateWarehousePayload:
        async def work(context: Context) -> UpdateWarehousePayload:
            named = warehouse_ref(input.id, input.warehouse_code, id_field="id")
            changes = provided(
                input, exclude={"id", "warehouse_code", "expected_version", "address"}
            )
            if input.address:
                changes |= _address(input.address)

            async def update(conn: AsyncConnection) -> warehouses.Warehouse:
                [warehouse_id] = await resolve_warehouses(conn, [named])
                return await warehouses.update_warehouse(
                    conn, warehouse_id, changes, input.expected_version
                )

            record = await context.transaction(update)
            return UpdateWarehousePayload(warehouse=Warehouse.from_record(record))

        return await mutate(info, Permission.MANAGE_WAREHOUSES, UpdateWarehousePayload, work)
