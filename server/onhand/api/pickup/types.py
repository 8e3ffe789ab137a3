"""GraphQL types of click-and-collect: where a cart can be picked up, line by line."""

from __future__ import annotations

import strawberry

from onhand.api.context import Info
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.inventory.pickup import availability as domain

PickupModeEnum = strawberry.enum(
    domain.PickupMode,
    name="PickupMode",
    description="LOCAL: only stock at the pickup location now. WITH_TRANSFERS: also what "
    "other active warehouses could transfer in, at locations whose transferLeadHours is "
    "within withinHours.",
)


@strawberry.type(description="One cart line at one pickup location.")
class PickupLineAvailability:
    line: int = strawberry.field(description="The line's position in the input (from 0).")
    requested_quantity: int = strawberry.field(description="Units the line asks for.")
    available_quantity: int = strawberry.field(
        description="Units of the line the location can give: localQuantity + transferQuantity."
    )
    local_quantity: int = strawberry.field(
        description="Of availableQuantity, units at the location now, within the channel's "
        "availableToSell: what a reservation for pickup there could hold now."
    )
    transfer_quantity: int = strawberry.field(
        description="Of availableQuantity, units other warehouses could transfer in "
        "(WITH_TRANSFERS only; from the channel's own warehouses within its availableToSell, "
        "from others within what is left of its allocation)."
    )
    missing_quantity: int = strawberry.field(description="requestedQuantity - availableQuantity.")
    product_id: strawberry.Private[int]

    @strawberry.field(description="The line's product.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)


@strawberry.type(description="A pickup location and how much of the cart it can give.")
class PickupOption:
    distance_km: float | None = strawberry.field(
        description="From the position asked about (null without one, or when the location "
        "has no coordinates)."
    )
    complete: bool = strawberry.field(description="Every line can be picked up here in full.")
    ready_in_hours: int = strawberry.field(
        description="0 when what it can give is there now; else its transfer lead time."
    )
    lines: list[PickupLineAvailability] = strawberry.field(
        description="Each input line, in input order."
    )
    warehouse_id: strawberry.Private[int]

    @strawberry.field(description="The pickup location (a warehouse or store).")
    async def location(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)

    @classmethod
    def from_option(cls, option: domain.PickupOption) -> PickupOption:
        return cls(
            distance_km=option.distance_km,
            complete=option.complete,
            ready_in_hours=option.ready_in_hours,
            lines=[
                PickupLineAvailability(
                    line=line.line,
                    requested_quantity=line.requested,
                    available_quantity=line.available,
                    local_quantity=line.local,
                    transfer_quantity=line.transfer,
                    missing_quantity=line.missing,
                    product_id=line.product_id,
                )
                for line in option.lines
            ],
            warehouse_id=option.warehouse_id,
        )
