"""SHORTFALL events as subscribers and pollers read them: a cart or an order reserved only in
part, one event per line left short."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onhand.api import ids
from onhand.api.channels.types import Channel, load_channel
from onhand.api.context import Info
from onhand.api.events.scalars import Long
from onhand.api.events.types import StreamEvent, register
from onhand.api.products.types import Product
from onhand.api.reservations.types import ReservationTypeEnum
from onhand.api.warehouses.types import Warehouse
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.inventory.reservations.model import ReservationType


def _id(type_name: str, value: int | None) -> strawberry.ID | None:
    return strawberry.ID(ids.encode(type_name, value)) if value else None


@strawberry.type(
    description="A cart or an order was reserved only in part (reserveCart with allowPartial): "
    "what one of its lines is missing. Orders short also raise an ORDER_SHORTFALL alert."
)
class Shortfall(StreamEvent):
    reservation_type: ReservationTypeEnum = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        description="CART or ORDER: what was being reserved."
    )
    reference_id: str | None = strawberry.field(description="The cart or order id.")
    line: int = strawberry.field(description="The line's position in the input (from 0).")
    product_id: strawberry.ID = strawberry.field(description="The product short.")
    warehouse_id: strawberry.ID | None = strawberry.field(
        description="The warehouse the line was to be held at (named, or the pickup "
        "location); null when routing was to choose: see channelId."
    )
    channel_id: strawberry.ID | None = strawberry.field(
        description="The channel the cart or order was reserved on."
    )
    pickup: bool = strawberry.field(description="The reservation was for pickup.")
    requested: int = strawberry.field(description="Units the line asked for.")
    reserved: int = strawberry.field(description="Units of the line reserved.")
    missing: int = strawberry.field(description="requested - reserved.")
    available: int = strawberry.field(
        description="Units that could be had when it was judged (the channel's or the "
        "warehouse's, whichever was short)."
    )
    reason: str = strawberry.field(description="Why the line fell short.")
    actor: str = strawberry.field(description="Who reserved (the token's name).")
    occurred_at: datetime | None = strawberry.field(description="When it was reserved.")
    _product_id: strawberry.Private[int]
    _warehouse_id: strawberry.Private[int | None]
    _channel_id: strawberry.Private[int | None]

    @classmethod
    def from_event(cls, event: Published) -> Shortfall:
        p = event.payload
        occurred = p.get("occurredAt")
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            reservation_type=ReservationType(p["reservationType"]),
            reference_id=p.get("referenceId"),
            line=p.get("line") or 0,
            product_id=strawberry.ID(ids.encode("Product", p["productId"])),
            warehouse_id=_id("Warehouse", p.get("warehouseId")),
            channel_id=_id("Channel", p.get("channelId")),
            pickup=bool(p.get("pickup")),
            requested=p["requested"],
            reserved=p.get("reserved") or 0,
            missing=p["missing"],
            available=p.get("available") or 0,
            reason=p.get("reason") or "",
            actor=p.get("actor") or "",
            occurred_at=datetime.fromisoformat(occurred) if occurred else None,
            _product_id=p["productId"],
            _warehouse_id=p.get("warehouseId"),
            _channel_id=p.get("channelId"),
        )

    @strawberry.field(description="The product short.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)

    @strawberry.field(description="The warehouse the line was to be held at, if named.")
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self._warehouse_id)

    @strawberry.field(description="The channel the cart or order was reserved on.")
    async def channel(self, info: Info) -> Channel | None:
        if self._channel_id is None:
            return None
        record = await load_channel(info, self._channel_id)
        return Channel.from_record(record) if record else None


register(Topic.SHORTFALL, Shortfall)
