"""Reservation queries, and fulfilment plans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import strawberry

from onhand.api import ids
from onhand.api.channels.access import channel_filter_id, channel_ref, check_readable, scope
from onhand.api.context import Info
from onhand.api.inputs import NOTHING, filter_id, product_ref, warehouse_ref
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.api.reservations.inputs import ShippingAddressInput, destination
from onhand.api.reservations.types import (
    FulfillmentPlan,
    Reservation,
    ReservationConnection,
    ReservationStatusEnum,
    ReservationTypeEnum,
    load_reservation,
)
from onhand.auth.roles import Permission
from onhand.core.refs import Ref
from onhand.inventory.refs import resolve_product, resolve_warehouse
from onhand.inventory.reservations.model import (
    ReservationFilter,
    expired_listing,
    reservation_listing,
)
from onhand.inventory.routing.fulfillment import PlanLine, fulfillment_plan
from onhand.inventory.routing.planning import Destination

RESERVE = [requires(Permission.RESERVE_STOCK)]
STOCK = [requires(Permission.READ_STOCK)]


@strawberry.input
class ReservationFilterInput:
    reference_id: str | None = None
    statuses: list[ReservationStatusEnum] | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    types: list[ReservationTypeEnum] | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    channel_id: strawberry.ID | None = None
    channel_code: str | None = None
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    expiring_before: datetime | None = strawberry.field(
        default=None, description="Only reservations whose expiry is before this time."
    )


@strawberry.input
class FulfillmentLineInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    quantity: int


@strawberry.input
class FulfillmentPlanInput:
    lines: list[FulfillmentLineInput]
    shipping_address: ShippingAddressInput | None = None
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this channel's warehouses, within its availableToSell."
    )
    channel_code: str | None = None


def _optional(
    make: Callable[[str | None, str | None], Ref], node_id: str | None, key: str | None
) -> Ref | None:
    return None if node_id is None and key is None else make(node_id, key)


def _channel_scope(info: Info, channel: int | None) -> int | None:
    """The channel a listing keeps to: the one named (a bound caller may name only its own),
    else a bound caller's own."""
    return channel if channel is not None else scope(info.context)


@strawberry.type
class ReservationQuery:
    @strawberry.field(permission_classes=RESERVE)
    async def reservation(self, info: Info, id: strawberry.ID) -> Reservation | None:
        record = await load_reservation(info, ids.decode(id, "Reservation", "id"))
        if record is None:
            return None
        check_readable(info, record.channel_id or NOTHING)
        return Reservation.from_record(record)

    @strawberry.field(
        permission_classes=RESERVE,
        description="Reservations, oldest first (a token bound to a channel: that channel's only).",
    )
    async def reservations(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ReservationFilterInput | None = None,
    ) -> ReservationConnection:
        given = filter or ReservationFilterInput()
        channel = await channel_filter_id(
            info.context, channel_ref(info.context, given.channel_id, given.channel_code)
        )
        product = await filter_id(
            info, _optional(product_ref, given.product_id, given.sku), resolve_product
        )
        warehouse = await filter_id(
            info,
            _optional(warehouse_ref, given.warehouse_id, given.warehouse_code),
            resolve_warehouse,
        )
        listing = reservation_listing(
            ReservationFilter(
                reference_id=given.reference_id,
                statuses=given.statuses or (),
                types=given.types or (),
                channel_id=_channel_scope(info, channel),
                product_id=product,
                warehouse_id=warehouse,
                expiring_before=given.expiring_before,
            )
        )
        return await paginate(
            info, listing, Reservation.from_row, first, after, ReservationConnection
        )

    @strawberry.field(
        permission_classes=RESERVE,
        description="Active reservations already past their expiry (default: now) that the "
        "sweeper has not released yet.",
    )
    async def expired_reservations(
        self,
        info: Info,
        before: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ReservationConnection:
        listing = expired_listing(before or datetime.now(UTC), _channel_scope(info, None))
        return await paginate(
            info, listing, Reservation.from_row, first, after, ReservationConnection
        )

    @strawberry.field(
        permission_classes=STOCK,
        description="Which warehouses would ship these lines: one that can ship them all "
        "(the best scored), else as few as possible. INSUFFICIENT_STOCK when none can.",
    )
    async def fulfillment_plan(self, info: Info, input: FulfillmentPlanInput) -> FulfillmentPlan:
        lines = [
            PlanLine(
                product_ref(line.product_id, line.sku, f"lines.{i}.productId"),
                line.quantity,
                f"lines.{i}.",
            )
            for i, line in enumerate(input.lines)
        ]
        to = destination(input.shipping_address) or Destination()
        channel = channel_ref(info.context, input.channel_id, input.channel_code)
        async with info.context.services.engine.connect() as conn:
            plan = await fulfillment_plan(conn, lines, to, channel)
        return FulfillmentPlan.from_plan(plan)
