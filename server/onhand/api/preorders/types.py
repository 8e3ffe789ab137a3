"""GraphQL types of preorders, preorder caps and their PREORDER_CHANGED events."""

from __future__ import annotations

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
from onhand.api.events.scalars import Long
from onhand.api.events.types import StreamEvent, register
from onhand.api.inputs import NOTHING
from onhand.api.pagination import Connection
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.reservations.types import Reservation, load_reservation
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.db.preorder_tables import preorders
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.inventory.preorders import model as domain

PreorderStatusEnum = strawberry.enum(
    domain.PreorderStatus,
    name="PreorderStatus",
    description="ACTIVE: waiting for stock, counted against its cap. CONVERTED: stock came; "
    "it is an ORDER reservation now. RELEASED: cancelled before stock came.",
)
PreorderChangeKindEnum = strawberry.enum(
    domain.PreorderChangeKind,
    name="PreorderChangeKind",
    description="CREATED, RELEASED, CONVERTED (stock was received: see `reservationId`).",
)


@strawberry.type
class PreorderLinks:
    """The objects a preorder (or its event) names, loaded through the request's loaders."""

    _product_id: strawberry.Private[int]
    _warehouse_id: strawberry.Private[int | None]
    _channel_id: strawberry.Private[int | None]
    _reservation_id: strawberry.Private[int | None]

    @strawberry.field(description="The product preordered.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)

    @strawberry.field(
        description="Where it waits (null: whichever warehouse receives first), or where it "
        "was converted."
    )
    async def warehouse(self, info: Info) -> Warehouse | None:
        if self._warehouse_id is None:
            return None
        return await Warehouse.load(info, self._warehouse_id)

    @strawberry.field(description="The channel it was taken on, if any.")
    async def channel(self, info: Info) -> Channel | None:
        if self._channel_id is None:
            return None
        record = await load_channel(info, self._channel_id)
        return Channel.from_record(record) if record else None

    @strawberry.field(description="The ORDER reservation it became (CONVERTED only).")
    async def reservation(self, info: Info) -> Reservation | None:
        if self._reservation_id is None:
            return None
        record = await load_reservation(info, self._reservation_id)
        return Reservation.from_record(record) if record else None


@strawberry.type(
    description="Units promised before stock exists: counted against a preorder cap, never "
    "against stock on hand; converted to an ORDER reservation when stock is received."
)
class Preorder(relay.Node, PreorderLinks):
    id: relay.NodeID[int]
    status: PreorderStatusEnum = strawberry.field(description="Where it stands.")  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    quantity: int = strawberry.field(description="Units preordered.")
    reference_id: str | None = strawberry.field(description="The order (or cart) id.")
    version: int = strawberry.field(description="Bumped on every change.")
    created_at: datetime = strawberry.field(description="When it was placed.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    ended_at: datetime | None = strawberry.field(description="When it was converted or released.")

    @classmethod
    def from_record(cls, record: domain.Preorder) -> Preorder:
        return cls(
            id=record.id,
            status=record.status,
            quantity=record.quantity,
            reference_id=record.reference_id,
            version=record.version,
            created_at=record.created_at,
            updated_at=record.updated_at,
            ended_at=record.ended_at,
            _product_id=record.product_id,
            _warehouse_id=record.warehouse_id,
            _channel_id=record.channel_id,
            _reservation_id=record.reservation_id,
        )

    @classmethod
    def from_row(cls, row: Any) -> Preorder:
        return cls.from_record(domain.Preorder.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Preorder | None]:
        check(info, Permission.RESERVE_STOCK)
        wanted = ids.node_ids(node_ids, "Preorder")
        async with info.context.read_engine.connect() as conn:
            rows = await conn.execute(select(preorders).where(preorders.c.id.in_(wanted)))
            found = {row.id: domain.Preorder.from_row(row) for row in rows}
        for record in found.values():
            check_readable(info, record.channel_id or NOTHING)
        return [cls.from_record(found[i]) if i in found else None for i in wanted]


PreorderConnection = Connection[Preorder]


@strawberry.type(
    description="How many units may be preordered (across a product, or at one level), and "
    "what is left."
)
class PreorderCap:
    cap: int = strawberry.field(description="The most units that may wait as preorders.")
    preordered: int = strawberry.field(description="Units of ACTIVE preorders in its scope.")
    remaining: int = strawberry.field(description="What may still be preordered.")
    version: int = strawberry.field(description="Bumped on every change of the cap.")
    updated_at: datetime = strawberry.field(description="When the cap was last set.")
    _product_id: strawberry.Private[int]
    _warehouse_id: strawberry.Private[int | None]

    @classmethod
    def from_record(cls, record: domain.PreorderCap) -> PreorderCap:
        return cls(
            cap=record.cap,
            preordered=record.preordered,
            remaining=record.remaining,
            version=record.version,
            updated_at=record.updated_at,
            _product_id=record.product_id,
            _warehouse_id=record.warehouse_id,
        )

    @strawberry.field(description="The product.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self._product_id)

    @strawberry.field(description="The level's warehouse; null for the product-wide cap.")
    async def warehouse(self, info: Info) -> Warehouse | None:
        if self._warehouse_id is None:
            return None
        return await Warehouse.load(info, self._warehouse_id)


def _gid(type_name: str, value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(ids.encode(type_name, value))


@strawberry.type(description="A preorder was placed, released, or converted when stock came.")
class PreorderChange(StreamEvent, PreorderLinks):
    kind: PreorderChangeKindEnum = strawberry.field(description="What happened.")  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    preorder_id: strawberry.ID = strawberry.field(description="The preorder.")
    status: PreorderStatusEnum = strawberry.field(description="Its status after.")  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    product_id: strawberry.ID = strawberry.field(description="The product.")
    warehouse_id: strawberry.ID | None = strawberry.field(description="Where it waits or went.")
    channel_id: strawberry.ID | None = strawberry.field(description="The channel, if any.")
    reservation_id: strawberry.ID | None = strawberry.field(
        description="CONVERTED: the ORDER reservation it became."
    )
    quantity: int = strawberry.field(description="Units preordered.")
    reference_id: str | None = strawberry.field(description="The order (or cart) id.")
    actor: str = strawberry.field(description="Who made the change.")
    occurred_at: datetime = strawberry.field(description="When.")

    @classmethod
    def from_event(cls, event: Published) -> PreorderChange:
        p = event.payload
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            kind=domain.PreorderChangeKind(p["kind"]),
            preorder_id=strawberry.ID(ids.encode("Preorder", p["preorderId"])),
            status=domain.PreorderStatus(p["status"]),
            product_id=strawberry.ID(ids.encode("Product", p["productId"])),
            warehouse_id=_gid("Warehouse", p.get("warehouseId")),
            channel_id=_gid("Channel", p.get("channelId")),
            reservation_id=_gid("Reservation", p.get("reservationId")),
            quantity=p["quantity"],
            reference_id=p.get("referenceId"),
            actor=p["actor"],
            occurred_at=datetime.fromisoformat(p["occurredAt"]),
            _product_id=p["productId"],
            _warehouse_id=p.get("warehouseId"),
            _channel_id=p.get("channelId"),
            _reservation_id=p.get("reservationId"),
        )


register(Topic.PREORDER_CHANGED, PreorderChange)
