"""pickupAvailability: where a cart can be collected (click-and-collect)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from onhand.api.channels.access import channel_or_own
from onhand.api.context import Info
from onhand.api.inputs import product_ref
from onhand.api.permissions import requires
from onhand.api.pickup.types import PickupModeEnum, PickupOption
from onhand.auth.roles import Permission
from onhand.inventory.pickup.availability import (
    PickupLine,
    PickupMode,
    PickupQuestion,
    pickup_availability,
)
from onhand.inventory.routing.planning import Destination


@strawberry.input(description="A cart line: a product (by id or SKU) and a quantity.")
class PickupLineInput:
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The product, or name it by sku."
    )
    sku: str | None = strawberry.field(default=None, description="The product's SKU.")
    quantity: int = strawberry.field(description="Units wanted (above 0).")


@strawberry.input(description="A point on the globe.")
class PositionInput:
    latitude: float = strawberry.field(description="Degrees, -90 to 90.")
    longitude: float = strawberry.field(description="Degrees, -180 to 180.")


@strawberry.input(description="A cart to collect: its lines, the channel it is sold on, where.")
class PickupAvailabilityInput:
    lines: list[PickupLineInput] = strawberry.field(description="The cart's lines (1 to 100).")
    channel_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The channel selling the cart (its pickup locations and availableToSell); "
        "a token bound to a channel: its own by default.",
    )
    channel_code: str | None = strawberry.field(
        default=None, description="Or the channel by its code."
    )
    mode: PickupModeEnum = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        default=PickupMode.LOCAL, description="Local stock only, or transfers in too."
    )
    within_hours: int | None = strawberry.field(
        default=None,
        description="WITH_TRANSFERS: count transfers in only at locations ready within this "
        "many hours (their transferLeadHours); default: any lead time.",
    )
    position: PositionInput | None = strawberry.field(
        default=None, description="Where the customer is: options say how far each location is."
    )
    max_distance_km: float | None = strawberry.field(
        default=None, description="Only locations within this distance of `position`."
    )


@strawberry.type
class PickupQuery:
    @strawberry.field(
        permission_classes=[requires(Permission.READ_STOCK)],
        description="Where this cart can be picked up: every active pickup location (a "
        "warehouse with the PICKUP capability) of the channel, with how much of each line it "
        "can give; complete locations first, then fewest units missing, soonest ready, nearest.",
    )
    async def pickup_availability(
        self,
        info: Info,
        input: Annotated[
            PickupAvailabilityInput,
            strawberry.argument(description="The cart, its channel, and where the customer is."),
        ],
    ) -> list[PickupOption]:
        position = (
            Destination(input.position.latitude, input.position.longitude)
            if input.position is not None
            else None
        )
        question = PickupQuestion(
            lines=tuple(
                PickupLine(
                    product_ref(line.product_id, line.sku, prefix=f"lines.{i}."),
                    line.quantity,
                    f"lines.{i}.",
                )
                for i, line in enumerate(input.lines)
            ),
            channel=channel_or_own(info.context, input.channel_id, input.channel_code),
            mode=input.mode,
            within_hours=input.within_hours,
            position=position,
            max_distance_km=input.max_distance_km,
        )
        async with info.context.services.engine.connect() as conn:
            options = await pickup_availability(conn, question)
        return [PickupOption.from_option(option) for option in options]
