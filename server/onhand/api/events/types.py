"""What subscribers and pollers receive: one type per event topic, all with their sequence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.events.scalars import Long
from onhand.api.inventory.types import MovementSource, MovementType, StockQuantities
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.events.envelope import Published
from onhand.events.payloads import outward


def _quantities(values: dict[str, int]) -> StockQuantities:
    return StockQuantities(**values)


@strawberry.interface(description="Something that happened, in the order onhand published it.")
class StreamEvent:
    sequence: Long = strawberry.field(
        description="Consecutive across all events; resume with `after:` this value."
    )
    published_at: datetime


@strawberry.type(description="A level changed (one ledger movement).")
class InventoryUpdate(StreamEvent):
    product_id: strawberry.ID
    warehouse_id: strawberry.ID
    movement_id: strawberry.ID
    movement_type: MovementType
    reason: str | None
    source: MovementSource
    actor: str
    reference_id: str | None
    old_quantity: int = strawberry.field(description="Units on hand before.")
    new_quantity: int = strawberry.field(description="Units on hand after.")
    old_available: int
    new_available: int
    before: StockQuantities
    after: StockQuantities
    version: int = strawberry.field(description="The level's version after the change.")
    occurred_at: datetime
    _product_id: strawberry.Private[int]
    _warehouse_id: strawberry.Private[int]

    @classmethod
    def from_event(cls, event: Published) -> InventoryUpdate:
        p = event.payload
        before, after = p["before"], p["after"]
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            product_id=strawberry.ID(ids.encode("Product", p["productId"])),
            warehouse_id=strawberry.ID(ids.encode("Warehouse", p["warehouseId"])),
            movement_id=strawberry.ID(ids.encode("InventoryMovement", p["movementId"])),
            movement_type=MovementType(p["type"]),
            reason=p.get("reason"),
            source=MovementSource(p["source"]),
            actor=p["actor"],
            reference_id=p.get("referenceId"),
            old_quantity=before["on_hand"],
            new_quantity=after["on_hand"],
            old_available=before["available"],
            new_available=after["available"],
            before=_quantities(before),
            after=_quantities(after),
            version=p["version"],
            occurred_at=datetime.fromisoformat(p["occurredAt"]),
            _product_id=p["productId"],
            _warehouse_id=p["warehouseId"],
        )

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self._warehouse_id)


@strawberry.type(description="Stock moved between warehouses (both legs in one change).")
class InventoryTransfer(StreamEvent):
    product_id: strawberry.ID
    from_warehouse_id: strawberry.ID
    to_warehouse_id: strawberry.ID
    quantity: int
    reason: str | None
    reference_id: str | None
    from_quantity: int = strawberry.field(description="Units on hand at the source after.")
    to_quantity: int = strawberry.field(description="Units on hand at the destination after.")
    actor: str
    _product_id: strawberry.Private[int]

    @classmethod
    def from_event(cls, event: Published) -> InventoryTransfer:
        p = event.payload
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            product_id=strawberry.ID(ids.encode("Product", p["productId"])),
            from_warehouse_id=strawberry.ID(ids.encode("Warehouse", p["fromWarehouseId"])),
            to_warehouse_id=strawberry.ID(ids.encode("Warehouse", p["toWarehouseId"])),
            quantity=p["quantity"],
            reason=p.get("reason"),
            reference_id=p.get("referenceId"),
            from_quantity=p["fromAfter"],
            to_quantity=p["toAfter"],
            actor=p["actor"],
            _product_id=p["productId"],
        )

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)


@strawberry.type(description="An event of a kind this version of the API has no type for.")
class OtherEvent(StreamEvent):
    topic: str
    payload: strawberry.scalars.JSON


# Topic -> GraphQL type; other parts of onhand register theirs (see register()).
EVENT_TYPES: dict[str, Any] = {
    "INVENTORY_UPDATED": InventoryUpdate,
    "INVENTORY_TRANSFERRED": InventoryTransfer,
}


def register(topic: str, event_type: Any) -> None:
    EVENT_TYPES[topic] = event_type


def to_graphql(event: Published) -> Any:
    event_type = EVENT_TYPES.get(event.topic)
    if event_type is None:
        return OtherEvent(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            topic=event.topic,
            payload=JSON(outward(event.payload)),
        )
    return event_type.from_event(event)
