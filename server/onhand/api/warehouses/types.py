"""GraphQL types of warehouses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.pagination import Connection
from onhand.api.permissions import check, requires
from onhand.auth.roles import Permission
from onhand.core import records
from onhand.inventory.warehouses import Capability

if TYPE_CHECKING:
    from onhand.api.inventory.types import InventoryLevel

_INVENTORY = "onhand.api.inventory.types"
# InventoryLevel refers back to Warehouse: its class is reached when first used, as
# strawberry reaches it for the schema.
_InventoryLevel: strawberry.LazyType[Any, Any] = strawberry.LazyType("InventoryLevel", _INVENTORY)

WarehouseCapability = strawberry.enum(Capability, name="WarehouseCapability")


@strawberry.type
class Address:
    street: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    latitude: float | None
    longitude: float | None


@strawberry.type(
    description="A warehouse's levels counted by how healthy their stock is, by the stock "
    "alerts' rules: a level is out of stock, low, or healthy."
)
class StockHealth:
    levels: int = strawberry.field(description="Levels here (one per product stocked).")
    out_of_stock: int = strawberry.field(description="Levels with available <= 0.")
    low_stock: int = strawberry.field(
        description="Levels with 0 < available <= their safety stock, or the low-stock "
        "threshold (ONHAND_LOW_STOCK_THRESHOLD) when they have none."
    )
    healthy: int = strawberry.field(description="The other levels: more than that available.")


@strawberry.type
class Warehouse(relay.Node):
    id: relay.NodeID[int]
    code: str
    name: str
    address: Address
    timezone: str
    is_active: bool
    priority: int
    capabilities: list[WarehouseCapability]  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    allow_backorders: bool = strawberry.field(
        description="When true, stock here may be sold below zero (backorders)."
    )
    version: int
    created_at: datetime
    updated_at: datetime
    is_pickup_location: bool = strawberry.field(
        description="Customers may collect orders here (click-and-collect): the warehouse has "
        "the PICKUP capability."
    )
    pickup_instructions: str | None = strawberry.field(
        description="What a customer collecting here is told (where to go, what to bring)."
    )
    pickup_hours: str | None = strawberry.field(
        description="When orders can be collected here, as the merchant writes it."
    )
    transfer_lead_hours: int | None = strawberry.field(
        description="Hours stock transferred in from another warehouse takes to be ready "
        "here; null: transfers in are not offered for pickup (pickupAvailability)."
    )

    @classmethod
    async def load(cls, info: Info, warehouse_id: int | None) -> Warehouse | None:
        """The warehouse with this id, through the request's dataloader (None: none)."""
        if warehouse_id is None:
            return None
        record = await info.context.loaders.warehouse.load(warehouse_id)
        return cls.from_record(record) if record else None

    @classmethod
    def from_record(cls, record: records.Warehouse) -> Warehouse:
        return cls(
            id=record.id,
            code=record.code,
            name=record.name,
            address=Address(
                street=record.street,
                city=record.city,
                state=record.state,
                postal_code=record.postal_code,
                country=record.country,
                latitude=record.latitude,
                longitude=record.longitude,
            ),
            timezone=record.timezone,
            is_active=record.is_active,
            priority=record.priority,
            capabilities=[Capability(c) for c in record.capabilities],
            allow_backorders=record.allow_backorders,
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            is_pickup_location=record.is_pickup_location,
            pickup_instructions=record.pickup_instructions,
            pickup_hours=record.pickup_hours,
            transfer_lead_hours=record.transfer_lead_hours,
        )

    @classmethod
    def from_row(cls, row: Any) -> Warehouse:
        return cls.from_record(records.Warehouse.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Warehouse | None]:
        check(info, Permission.READ_CATALOG)
        found = await info.context.loaders.warehouse.load_many(ids.node_ids(node_ids, "Warehouse"))
        return [cls.from_record(r) if r else None for r in found]

    @strawberry.field(description="Stock held here, one level per product.")
    async def inventory_levels(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        below_safety_stock: bool = False,
        include_zero: bool = False,
    ) -> Connection[Annotated[InventoryLevel, strawberry.lazy(_INVENTORY)]]:
        return await _InventoryLevel.resolve_type().of_warehouse(
            info,
            self.id,
            first,
            after,
            below_safety_stock=below_safety_stock,
            include_zero=include_zero,
        )

    @strawberry.field(
        permission_classes=[requires(Permission.READ_STOCK)],
        description="How many of this warehouse's levels are out of stock, low, or healthy "
        "(the overview an operator reads at a glance).",
    )
    async def stock_health(self, info: Info) -> StockHealth:
        threshold = info.context.settings.low_stock_threshold
        found = await info.context.loaders.warehouses.stock_health.load((self.id, threshold))
        return StockHealth(
            levels=found.levels,
            out_of_stock=found.out_of_stock,
            low_stock=found.low_stock,
            healthy=found.healthy,
        )


WarehouseConnection = Connection[Warehouse]
