"""GraphQL types of reservations, partial-cart failures and fulfilment plans."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry import relay

from onhand.api import ids
from onhand.api.channels.access import check_readable
from onhand.api.channels.types import Channel, load_channel
from onhand.api.context import Info
from onhand.api.inventory.types import InventoryMovement, InventoryMovementConnection
from onhand.api.pagination import Connection, paginate
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.core.pagination import Listing
from onhand.db.tables import inventory_movements
from onhand.inventory.reservations import model as domain
from onhand.inventory.reservations.requests import LineFailure
from onhand.inventory.routing.planning import Plan

ReservationTypeEnum = strawberry.enum(
    domain.ReservationType,
    name="ReservationType",
    description="CART: expires (30 minutes by default), holds reserved stock. ORDER: never "
    "expires, holds committed stock. TRANSFER: expires (24 hours by default).",
)
ReservationStatusEnum = strawberry.enum(domain.ReservationStatus, name="ReservationStatus")


async def load_reservation(info: Info, reservation_id: int) -> domain.Reservation | None:
    loader = info.context.loaders.reservations.by_id
    found: domain.Reservation | None = await loader.load(reservation_id)
    return found


@strawberry.type(description="Stock held for a cart, an order or a transfer.")
class Reservation(relay.Node):
    id: relay.NodeID[int]
    type: ReservationTypeEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    status: ReservationStatusEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    quantity: int = strawberry.field(description="Units reserved.")
    fulfilled_quantity: int = strawberry.field(description="Units shipped so far.")
    held_quantity: int = strawberry.field(description="Units it holds now (0 once it ended).")
    reference_id: str | None = strawberry.field(description="The cart, order or transfer id.")
    cart_id: str | None = strawberry.field(
        description="For an order converted from a cart: the cart's id."
    )
    variant_id: str | None
    expires_at: datetime | None = strawberry.field(description="Null: never expires.")
    version: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = strawberry.field(
        description="When it was released, expired or fully fulfilled."
    )
    kit_reservation_id: strawberry.ID | None = strawberry.field(
        description="A component hold of a kit: the kit's reservation (its first component "
        "hold), which releases, converts, extends and fulfils all of them together."
    )
    kit_quantity: int | None = strawberry.field(
        description="A component hold of a kit: units of this product in one kit."
    )
    product_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int]
    channel_id: strawberry.Private[int | None]
    kit_product_id: strawberry.Private[int | None]

    @classmethod
    def from_record(cls, record: domain.Reservation) -> Reservation:
        return cls(
            id=record.id,
            type=record.type,
            status=record.status,
            quantity=record.quantity,
            fulfilled_quantity=record.fulfilled_quantity,
            held_quantity=record.held,
            reference_id=record.reference_id,
            cart_id=record.cart_reference_id,
            variant_id=record.variant_id,
            expires_at=record.expires_at,
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            ended_at=record.ended_at,
            product_id=record.product_id,
            warehouse_id=record.warehouse_id,
            channel_id=record.channel_id,
            kit_reservation_id=strawberry.ID(ids.encode("Reservation", record.kit_reservation_id))
            if record.kit_reservation_id is not None
            else None,
            kit_quantity=record.kit_quantity,
            kit_product_id=record.kit_product_id,
        )

    @classmethod
    def from_row(cls, row: Any) -> Reservation:
        return cls.from_record(domain.Reservation.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Reservation | None]:
        check(info, Permission.RESERVE_STOCK)
        wanted = ids.node_ids(node_ids, "Reservation")
        found = await asyncio.gather(*(load_reservation(info, i) for i in wanted))
        for record in found:
            if record is not None:
                check_readable(info, record.channel_id or 0)
        return [cls.from_record(r) if r else None for r in found]

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)

    @strawberry.field(description="A component hold of a kit: the kit.")
    async def kit(self, info: Info) -> Product | None:
        return await Product.load(info, self.kit_product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)

    @strawberry.field
    async def channel(self, info: Info) -> Channel | None:
        if self.channel_id is None:
            return None
        record = await load_channel(info, self.channel_id)
        return Channel.from_record(record) if record else None

    @strawberry.field(
        description="Where the customer collects it, for a reservation made for pickup "
        "(pickupLocationId or pickupLocationCode): the warehouse holding it. Null otherwise."
    )
    async def pickup_location(self, info: Info) -> Warehouse | None:
        warehouse_id = await info.context.loaders.reservations.pickup_location.load(self.id)
        return await Warehouse.load(info, warehouse_id)

    @strawberry.field(description="The ledger rows of this reservation, newest first.")
    async def movements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[InventoryMovement]:
        check(info, Permission.READ_AUDIT)
        mv = inventory_movements.c
        listing = Listing(
            select(inventory_movements).where(mv.reservation_id == self.id), mv.id, descending=True
        )
        return await paginate(
            info, listing, InventoryMovement.from_row, first, after, InventoryMovementConnection
        )


@strawberry.type(description="A cart line not reserved: what was asked and what there was.")
class ReservationFailure:
    line: int = strawberry.field(description="The line's position in the input (from 0).")
    field: str
    product_id: strawberry.ID
    requested_quantity: int
    available_quantity: int
    reason: str
    _product_id: strawberry.Private[int]

    @classmethod
    def from_record(cls, failure: LineFailure) -> ReservationFailure:
        return cls(
            line=failure.line,
            field=failure.field,
            product_id=strawberry.ID(ids.encode("Product", failure.product_id)),
            requested_quantity=failure.requested,
            available_quantity=failure.available,
            reason=failure.message,
            _product_id=failure.product_id,
        )

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)


@strawberry.type
class ShipmentLine:
    line: int = strawberry.field(description="The input line this serves (from 0).")
    quantity: int
    product_id: strawberry.Private[int]

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)


@strawberry.type(description="What one warehouse would ship.")
class Shipment:
    score: float = strawberry.field(
        description="100 - distance (0-30) + availability (0-30) + priority (0-20) + idle "
        "capacity (0-20); higher is better."
    )
    distance_km: float | None
    lines: list[ShipmentLine]
    warehouse_id: strawberry.Private[int]

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self.warehouse_id)


@strawberry.type(description="Where an order would ship from: one warehouse if one can.")
class FulfillmentPlan:
    shipments: list[Shipment]
    split: bool = strawberry.field(description="True when more than one warehouse ships.")

    @classmethod
    def from_plan(cls, plan: Plan) -> FulfillmentPlan:
        return cls(
            shipments=[
                Shipment(
                    score=s.score,
                    distance_km=s.distance_km,
                    lines=[
                        ShipmentLine(line=p.line, quantity=p.quantity, product_id=p.product_id)
                        for p in s.picks
                    ],
                    warehouse_id=s.warehouse_id,
                )
                for s in plan.shipments
            ],
            split=plan.split,
        )


ReservationConnection = Connection[Reservation]
