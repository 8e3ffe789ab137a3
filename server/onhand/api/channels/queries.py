"""Channel queries: channels, one channel, and what a channel may sell."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from onhand.api.channels.access import channel_ref, required_channel_ref, scope
from onhand.api.channels.types import (
    Channel,
    ChannelConnection,
    ChannelInventory,
    ChannelKindEnum,
    load_named_channel,
    product_ids_of,
)
from onhand.api.context import Info
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.auth.roles import Permission
from onhand.inventory.channels.availability import availability
from onhand.inventory.channels.registry import ChannelFilter, channel_listing

CHANNEL = [requires(Permission.READ_CHANNEL)]
MAX_PRODUCTS = 250


@strawberry.input
class ChannelFilterInput:
    is_active: bool | None = None
    kind: ChannelKindEnum | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    search: str | None = strawberry.field(default=None, description="Part of a code or name.")


@strawberry.type
class ChannelQuery:
    @strawberry.field(permission_classes=CHANNEL, description="One channel, by id or by code.")
    async def channel(
        self, info: Info, id: strawberry.ID | None = None, code: str | None = None
    ) -> Channel | None:
        ref = channel_ref(info.context, id, code, "id", "code")
        record = await load_named_channel(info, ref) if ref is not None else None
        return Channel.from_record(record) if record is not None else None

    @strawberry.field(
        permission_classes=CHANNEL,
        description="Channels (a token bound to a channel sees its own only).",
    )
    async def channels(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ChannelFilterInput | None = None,
    ) -> ChannelConnection:
        given = filter or ChannelFilterInput()
        bound = scope(info.context)
        listing = channel_listing(
            ChannelFilter(
                is_active=given.is_active,
                kind=given.kind,
                search=given.search,
                ids=(bound,) if bound is not None else (),
            )
        )
        return await paginate(info, listing, Channel.from_row, first, after, ChannelConnection)

    @strawberry.field(
        permission_classes=CHANNEL,
        description="What a channel may sell of the given products now (by ids and/or SKUs; "
        "unknown ones are left out). A bound token's own channel is the default.",
    )
    async def channel_inventory(
        self,
        info: Info,
        channel_id: strawberry.ID | None = None,
        channel_code: str | None = None,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
    ) -> list[ChannelInventory]:
        ref = required_channel_ref(info.context, channel_id, channel_code)
        record = await load_named_channel(info, ref)
        if record is None:
            return []
        wanted = [*(product_ids or []), *(skus or [])]
        if len(wanted) > MAX_PRODUCTS:
            raise GraphQLError(
                f"at most {MAX_PRODUCTS} products at once",
                extensions={"code": "INVALID", "field": "productIds"},
            )
        found = [p for p in await product_ids_of(info, product_ids or [], skus or []) if p]
        async with info.context.services.engine.connect() as conn:
            entries = await availability(conn, [record], found)
        return [
            ChannelInventory.from_record(entries[(record.id, p)])
            for p in dict.fromkeys(found)
            if (record.id, p) in entries
        ]
