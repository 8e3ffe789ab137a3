"""GraphQL types of products."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.pagination import Connection
from onhand.api.permissions import check
from onhand.auth.roles import Permission
from onhand.core import records

if TYPE_CHECKING:
    from onhand.api.channels.types import ChannelInventory
    from onhand.api.inventory.types import InventoryLevel, InventorySummary
    from onhand.api.kits.types import KitComponent

_INVENTORY = "onhand.api.inventory.types"
_CHANNELS = "onhand.api.channels.types"
# Those types refer back to Product: their classes are reached when first used, as
# strawberry reaches them for the schema.
_InventoryLevel: strawberry.LazyType[Any, Any] = strawberry.LazyType("InventoryLevel", _INVENTORY)
_InventorySummary: strawberry.LazyType[Any, Any] = strawberry.LazyType(
    "InventorySummary", _INVENTORY
)
_ChannelInventory: strawberry.LazyType[Any, Any] = strawberry.LazyType(
    "ChannelInventory", _CHANNELS
)
_KITS = "onhand.api.kits.types"
_KitTypes: strawberry.LazyType[Any, Any] = strawberry.LazyType("KitComponent", _KITS)


@strawberry.type
class Product(relay.Node):
    id: relay.NodeID[int]
    sku: str
    name: str
    external_product_id: str | None = strawberry.field(
        description="The product's id in the commerce platform, when it has one."
    )
    external_variant_id: str | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    async def load(cls, info: Info, product_id: int | None) -> Product | None:
        """The product with this id, through the request's dataloader (None: none)."""
        if product_id is None:
            return None
        record = await info.context.loaders.product.load(product_id)
        return cls.from_record(record) if record else None

    @classmethod
    def from_record(cls, record: records.Product) -> Product:
        return cls(
            id=record.id,
            sku=record.sku,
            name=record.name,
            external_product_id=record.external_product_id,
            external_variant_id=record.external_variant_id,
            is_active=record.is_active,
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    @classmethod
    def from_row(cls, row: Any) -> Product:
        return cls.from_record(records.Product.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Product | None]:
        check(info, Permission.READ_CATALOG)
        found = await info.context.loaders.product.load_many(ids.node_ids(node_ids, "Product"))
        return [cls.from_record(r) if r else None for r in found]

    @strawberry.field(description="Stock of this product summed across warehouses.")
    async def inventory(
        self, info: Info
    ) -> Annotated[InventorySummary, strawberry.lazy(_INVENTORY)]:
        return await _InventorySummary.resolve_type().of_product(info, self.id)

    @strawberry.field(
        description="This product's level at each warehouse that stocks it, in warehouse "
        "order; with minAvailable, only where at least that many units are available."
    )
    async def inventory_levels(
        self,
        info: Info,
        min_available: Annotated[
            int | None,
            strawberry.argument(
                description="Only warehouses where at least this many units are available."
            ),
        ] = None,
    ) -> list[Annotated[InventoryLevel, strawberry.lazy(_INVENTORY)]]:
        return await _InventoryLevel.resolve_type().of_product(info, self.id, min_available)

    @strawberry.field(
        description="What each active channel may sell of this product (availableToSell), "
        "with the per-warehouse breakdown."
    )
    async def channel_availability(
        self, info: Info
    ) -> list[Annotated[ChannelInventory, strawberry.lazy(_CHANNELS)]]:
        return await _ChannelInventory.resolve_type().of_product(info, self.id)

    @strawberry.field(
        description="A kit's components with their units per kit (empty: not a kit). A kit "
        "holds no stock of its own: its availability is derived from its components, and "
        "reserving it holds them (setKitComponents)."
    )
    async def kit_components(
        self, info: Info
    ) -> list[Annotated[KitComponent, strawberry.lazy(_KITS)]]:
        check(info, Permission.READ_CATALOG)
        return await _kit_components(info, self.id)

    @strawberry.field(description="Whether this product is a kit (it has components).")
    async def is_kit(self, info: Info) -> bool:
        return bool(await info.context.loaders.kits.components.load(self.id))


async def _kit_components(info: Info, kit_id: int) -> list[Any]:
    found = await info.context.loaders.kits.components.load(kit_id)
    component = _KitTypes.resolve_type()
    return [component.from_record(c) for c in found]


ProductConnection = Connection[Product]
