"""reservationChanged: reservations created, extended, converted, released, expired and
fulfilled, as the RESERVATION_CHANGED events of the outbox say; and the channel filter shared
with inventoryUpdated."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from onhand.api import ids
from onhand.api.channels.access import channel_ref, scope
from onhand.api.channels.types import Channel, load_channel
from onhand.api.context import Info
from onhand.api.events.scalars import Long
from onhand.api.events.streams import stream
from onhand.api.events.types import StreamEvent, register
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.reservations.types import (
    Reservation,
    ReservationStatusEnum,
    ReservationTypeEnum,
    load_reservation,
)
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.core.refs import Ref
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.inventory.channels.registry import resolve_channel
from onhand.inventory.refs import resolve_products
from onhand.inventory.reservations.model import ChangeKind, ReservationStatus, ReservationType

ReservationChangeKindEnum = strawberry.enum(
    ChangeKind,
    name="ReservationChangeKind",
    description="CREATED, EXTENDED (new expiry), CONVERTED (a cart became an order), "
    "RELEASED, EXPIRED, FULFILLED (shipped, in part or in full).",
)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@strawberry.type(description="A reservation changed state.")
class ReservationChange(StreamEvent):
    kind: ReservationChangeKindEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    reservation_id: strawberry.ID
    type: ReservationTypeEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    status: ReservationStatusEnum  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    product_id: strawberry.ID
    warehouse_id: strawberry.ID
    channel_id: strawberry.ID | None
    quantity: int
    fulfilled_quantity: int
    reference_id: str | None
    cart_id: str | None = strawberry.field(description="For a converted cart: the cart's id.")
    expires_at: datetime | None
    actor: str
    version: int
    occurred_at: datetime | None
    _reservation_id: strawberry.Private[int]
    _product_id: strawberry.Private[int]
    _warehouse_id: strawberry.Private[int]
    _channel_id: strawberry.Private[int | None]

    @classmethod
    def from_event(cls, event: Published) -> ReservationChange:
        p = event.payload
        channel = p.get("channelId")
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            kind=ChangeKind(p["kind"]),
            reservation_id=strawberry.ID(ids.encode("Reservation", p["reservationId"])),
            type=ReservationType(p["type"]),
            status=ReservationStatus(p["status"]),
            product_id=strawberry.ID(ids.encode("Product", p["productId"])),
            warehouse_id=strawberry.ID(ids.encode("Warehouse", p["warehouseId"])),
            channel_id=strawberry.ID(ids.encode("Channel", channel)) if channel else None,
            quantity=p["quantity"],
            fulfilled_quantity=p.get("fulfilledQuantity") or 0,
            reference_id=p.get("referenceId"),
            cart_id=p.get("cartReferenceId"),
            expires_at=_when(p.get("expiresAt")),
            actor=p.get("actor") or "",
            version=p.get("version") or 0,
            occurred_at=_when(p.get("occurredAt")),
            _reservation_id=p["reservationId"],
            _product_id=p["productId"],
            _warehouse_id=p["warehouseId"],
            _channel_id=channel,
        )

    @strawberry.field(description="The reservation as it is now.")
    async def reservation(self, info: Info) -> Reservation | None:
        record = await load_reservation(info, self._reservation_id)
        return Reservation.from_record(record) if record else None

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse | None:
        return await Warehouse.load(info, self._warehouse_id)

    @strawberry.field
    async def channel(self, info: Info) -> Channel | None:
        if self._channel_id is None:
            return None
        record = await load_channel(info, self._channel_id)
        return Channel.from_record(record) if record else None


register(Topic.RESERVATION_CHANGED, ReservationChange)


async def channel_filter(
    info: Info, channel_id: strawberry.ID | None, channel_code: str | None
) -> tuple[int, frozenset[int]] | None:
    """The channel a subscription names (id or code), with the warehouses linked to it when
    it starts; None when it names none. A bound caller may name only its own channel."""
    ref = channel_ref(info.context, channel_id, channel_code)
    if ref is None:
        return None
    async with info.context.services.engine.connect() as conn:
        channel = await resolve_channel(conn, ref)
    return channel.id, frozenset(channel.warehouse_ids)


@strawberry.type
class ReservationSubscription:
    @strawberry.subscription(
        description="Reservations changing state. A token bound to a channel sees only its "
        "channel's."
    )
    async def reservation_changed(
        self,
        info: Info,
        reference_id: Annotated[
            str | None,
            strawberry.argument(
                description="The cart, order or transfer id (a converted "
                "cart's events match its cart id too)."
            ),
        ] = None,
        channel_id: strawberry.ID | None = None,
        channel_code: str | None = None,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
        kinds: list[ReservationChangeKindEnum] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        after: Annotated[
            Long | None,
            strawberry.argument(
                description="Replay what was published after this sequence first, then go live."
            ),
        ] = None,
    ) -> AsyncGenerator[ReservationChange, None]:
        check(info, Permission.RESERVE_STOCK)
        named = await channel_filter(info, channel_id, channel_code)
        channel = named[0] if named else scope(info.context)
        products = {ids.decode(i, "Product", "productIds") for i in product_ids or []}
        if skus:
            async with info.context.services.engine.connect() as conn:
                refs = [Ref(key=s, field="skus") for s in skus]
                products |= set(await resolve_products(conn, refs))
        wanted_kinds = {str(k) for k in kinds or []}

        def accepts(event: Published) -> bool:
            p = event.payload
            if channel is not None and event.channel_id != channel:
                return False
            if products and event.product_id not in products:
                return False
            if wanted_kinds and p.get("kind") not in wanted_kinds:
                return False
            return reference_id is None or reference_id in (
                p.get("referenceId"),
                p.get("cartReferenceId"),
            )

        async for event in stream(info, (Topic.RESERVATION_CHANGED,), accepts, after):
            yield ReservationChange.from_event(event)
