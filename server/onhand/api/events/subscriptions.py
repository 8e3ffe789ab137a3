"""Subscriptions to live changes, and inventoryChanges: the same events as pages, for
clients that cannot hold a connection open."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.events.reservation_events import channel_filter
from onhand.api.events.scalars import Long
from onhand.api.events.streams import KeyFilter, stream
from onhand.api.events.topics import EventTopic
from onhand.api.events.types import InventoryTransfer, InventoryUpdate, StreamEvent, to_graphql
from onhand.api.permissions import check, requires
from onhand.auth.roles import Permission
from onhand.core.refs import Ref
from onhand.events import store
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.inventory.refs import resolve_products, resolve_warehouses

AFTER = strawberry.argument(
    description="Replay what was published after this sequence first, then go live."
)
CHANNEL = strawberry.argument(
    description="Only levels in the warehouses linked to this channel (when subscribing)."
)


async def key_filter(
    info: Info,
    product_ids: list[strawberry.ID] | None,
    skus: list[str] | None,
    warehouse_ids: list[strawberry.ID] | None,
    warehouse_codes: list[str] | None,
) -> KeyFilter:
    products = [ids.decode(i, "Product", "productIds") for i in product_ids or []]
    warehouses = [ids.decode(i, "Warehouse", "warehouseIds") for i in warehouse_ids or []]
    async with info.context.services.engine.connect() as conn:
        if skus:
            products += await resolve_products(conn, [Ref(key=s, field="skus") for s in skus])
        if warehouse_codes:
            refs = [Ref(key=c, field="warehouseCodes") for c in warehouse_codes]
            warehouses += await resolve_warehouses(conn, refs)
    return KeyFilter(frozenset(products), frozenset(warehouses))


@strawberry.type
class EventSubscription:
    @strawberry.subscription(description="Every change to the levels you filter on.")
    async def inventory_updated(
        self,
        info: Info,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
        warehouse_ids: list[strawberry.ID] | None = None,
        warehouse_codes: list[str] | None = None,
        after: Annotated[Long | None, AFTER] = None,
        channel_id: Annotated[strawberry.ID | None, CHANNEL] = None,
        channel_code: Annotated[str | None, CHANNEL] = None,
    ) -> AsyncGenerator[InventoryUpdate, None]:
        check(info, Permission.READ_STOCK)
        keys = await key_filter(info, product_ids, skus, warehouse_ids, warehouse_codes)
        channel = await channel_filter(info, channel_id, channel_code)
        linked = channel[1] if channel is not None else None

        def accepts(event: Published) -> bool:
            if linked is not None and event.warehouse_id not in linked:
                return False
            return keys.accepts(event)

        async for event in stream(info, (Topic.INVENTORY_UPDATED,), accepts, after):
            yield InventoryUpdate.from_event(event)

    @strawberry.subscription(description="Stock moved between warehouses.")
    async def inventory_transferred(
        self,
        info: Info,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
        after: Annotated[Long | None, AFTER] = None,
    ) -> AsyncGenerator[InventoryTransfer, None]:
        check(info, Permission.READ_STOCK)
        keys = await key_filter(info, product_ids, skus, None, None)
        async for event in stream(info, (Topic.INVENTORY_TRANSFERRED,), keys.accepts, after):
            yield InventoryTransfer.from_event(event)


@strawberry.type
class EventPage:
    events: list[StreamEvent]
    last_sequence: Long = strawberry.field(
        description="Pass as `after` for the next page (the input `after` when none is new)."
    )
    has_more: bool


@strawberry.type
class EventQuery:
    @strawberry.field(
        permission_classes=[requires(Permission.READ_STOCK)],
        description="The sequence of the newest published event: read the state you need, "
        "then subscribe or poll with `after:` this value to miss nothing from then on.",
    )
    async def latest_sequence(self, info: Info) -> Long:
        async with info.context.services.engine.connect() as conn:
            return Long(await store.latest_sequence(conn))

    @strawberry.field(
        permission_classes=[requires(Permission.READ_STOCK)],
        description="Polling: the events published after a sequence, oldest first.",
    )
    async def inventory_changes(
        self,
        info: Info,
        after: Long,
        first: int = 100,
        topics: list[EventTopic] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    ) -> EventPage:
        limit = info.context.settings.max_page_size
        if not 1 <= first <= limit:
            raise GraphQLError(
                f"`first` must be between 1 and {limit}", extensions={"code": "BAD_USER_INPUT"}
            )
        async with info.context.services.engine.connect() as conn:
            oldest = await store.lost_after(conn, after)
            if oldest is not None:
                raise GraphQLError(
                    f"events after {after} are no longer kept (oldest: {oldest})",
                    extensions={"code": "CURSOR_EXPIRED"},
                )
            page = await store.events_after(conn, after, first + 1, topics=topics or ())
        events = page[:first]
        return EventPage(
            events=[to_graphql(e) for e in events],
            last_sequence=Long(events[-1].sequence if events else after),
            has_more=len(page) > first,
        )
