"""GraphQL types of kits: a kit's components, and KIT_AVAILABILITY_CHANGED events."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.events.scalars import Long
from onhand.api.events.types import StreamEvent, register
from onhand.api.products.types import Product
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.inventory.kits.definition import Component


@strawberry.type(description="One component of a kit: a product and its units per kit.")
class KitComponent:
    quantity: int = strawberry.field(description="Units of the component in one kit.")
    product_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, record: Component) -> KitComponent:
        return cls(quantity=record.quantity, product_id=record.product_id)

    @strawberry.field(description="The component.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)


@strawberry.type(
    description="What a kit may sell changed (KIT_AVAILABILITY_CHANGED): one of its "
    "components changed at a warehouse or on a channel (cause COMPONENT), or its components "
    "were set (cause DEFINED). Read its availability (Product.channelAvailability, "
    "inventorySummary) or the channel feed for the figures."
)
class KitAvailabilityChange(StreamEvent):
    kit_id: strawberry.ID = strawberry.field(description="The kit.")
    cause: str = strawberry.field(description="COMPONENT or DEFINED.")
    component_id: strawberry.ID | None = strawberry.field(
        description="The component that changed (cause COMPONENT)."
    )
    warehouse_id: strawberry.ID | None = strawberry.field(
        description="Where the component changed, or a warehouse stocking a component."
    )
    channel_id: strawberry.ID | None = strawberry.field(
        description="The channel the component's change was made on, if any."
    )
    pk: strawberry.Private[int]

    @classmethod
    def from_event(cls, event: Published) -> KitAvailabilityChange:
        p = event.payload

        def gid(kind: str, value: int | None) -> strawberry.ID | None:
            return strawberry.ID(ids.encode(kind, value)) if value is not None else None

        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            kit_id=strawberry.ID(ids.encode("Product", p["kitId"])),
            cause=p["cause"],
            component_id=gid("Product", p.get("componentId")),
            warehouse_id=gid("Warehouse", p.get("warehouseId")),
            channel_id=gid("Channel", p.get("channelId")),
            pk=p["kitId"],
        )

    @strawberry.field(description="The kit.")
    async def kit(self, info: Info) -> Product | None:
        return await Product.load(info, self.pk)


register(Topic.KIT_AVAILABILITY_CHANGED, KitAvailabilityChange)
