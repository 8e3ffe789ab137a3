"""Channel queries: channels, one channel, and what a channel may sell."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from onhand.api import ids
from onhand.api.channels.access import check_readable, scope
from onhand.api.channels.types import (
    Channel,
    ChannelConnection,
    ChannelInventory,
    ChannelKindEnum,
    load_channel,
    load_channel_by_code,
    product_ids_of,
)
from onhand.api.context import Info
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.auth.roles import Permission
from onhand.inventory.availability import availability
from onhand.inventory.channels import ChannelFilter, channel_listing

CHANNEL = [requires(Permission.READ_CHANNEL)]
MAX_PRODUCTS = 250


@strawberry.input
class ChannelFilterInput:
    is_active: bool | None = None
    kind: ChannelKindEnum | None = None  # type: ignore[valid-type]
    search: str | None = strawberry.field(default=None, description="Part of a code or name.")


@strawberry.type
class ChannelQuery:
    @strawberry.field(permission_classes=CHANNEL, description="One channel, by id or by code.")
    async def channel(
        self, info: Info, id: strawberry.ID | None = None, code: str | None = None
    ) -> Channel | None:
        if id is not None:
            record = await load_channel(info, ids.decode(id, "Channel", "id"))
        elif code is not None:
            record = await load_channel_by_code(info, code)
        else:
            return None
        if record is None:
            return None
        check_readable(info, record.id)
        return Channel.from_record(record)

    @strawberry.field(
        permission_classes=CHANNEL, description="Channels (a connector sees its own only)."
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
        "unknown ones are left out). A connector's own channel is the default.",
    )
    async def channel_inventory(
        self,
        info: Info,
        channel_id: strawberry.ID | None = None,
        channel_code: str | None = None,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
    ) -> list[ChannelInventory]:
        record = None
        if channel_id is not None:
            record = await load_channel(info, ids.decode(channel_id, "Channel", "channelId"))
        elif channel_code is not None:
            record = await load_channel_by_code(info, channel_code)
        elif scope(info.context) is not None:
            record = await load_channel(info, scope(info.context))  # type: ignore[arg-type]
        else:
            raise GraphQLError(
                "give channelId or channelCode",
                extensions={"code": "REQUIRED", "field": "channelId"},
            )
        if record is None:
            return []
        check_readable(info, record.id)
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
