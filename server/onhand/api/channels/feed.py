"""The channel change feed over GraphQL: channelFeed and channelSyncStatus (queries),
acknowledgeChannelSync (mutation) and channelAvailabilityChanged (subscription)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.scalars import JSON

from onhand.api.channels.access import required_channel_ref, syncs_for
from onhand.api.channels.types import Channel, load_channel
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.events.scalars import Long
from onhand.api.events.streams import stream_batches
from onhand.api.permissions import check, mutate, requires
from onhand.api.products.types import Product
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode
from onhand.db.transactions import in_transaction
from onhand.events.payloads import global_id
from onhand.inventory.channels import feed as channel_feed
from onhand.inventory.channels import registry as channels
from onhand.inventory.channels import sync as channel_sync
from onhand.inventory.channels.feed import Cursor, FeedItem
from onhand.inventory.channels.sync import SyncStatus

CHANNEL = [requires(Permission.READ_CHANNEL)]
DEFAULT_FEED_PAGE = 1000
MAX_FEED_PAGE = 10_000
# Products whose last emitted value a subscription remembers (to skip unchanged values).
REMEMBERED = 100_000


@strawberry.type(description="One product on a channel's feed, with its ATS now.")
class ChannelFeedItem:
    product_id: strawberry.ID
    sku: str
    available_to_sell: int
    pk: strawberry.Private[int]

    @classmethod
    def from_record(cls, item: FeedItem) -> ChannelFeedItem:
        return cls(
            product_id=strawberry.ID(global_id("Product", item.product_id)),
            sku=item.sku,
            available_to_sell=item.available_to_sell,
            pk=item.product_id,
        )

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.pk)


@strawberry.type(description="A page of a channel's change feed.")
class ChannelFeed:
    channel: Channel
    records: strawberry.Private[list[FeedItem]]
    cursor: str = strawberry.field(
        description="Pass as `after` for the next page; acknowledge it once applied."
    )
    has_more: bool = strawberry.field(description="More is waiting: fetch the next page now.")
    snapshot: bool = strawberry.field(
        description="This page is part of a full snapshot (the first sync, no `after`)."
    )

    @strawberry.field(description="Each product once, with its availableToSell now.")
    def items(self) -> list[ChannelFeedItem]:
        return [ChannelFeedItem.from_record(item) for item in self.records]

    @strawberry.field(
        description="The same as `items` in a compact form for bulk syncs (large snapshots "
        "are several times faster to send): each entry is "
        "`{productId: ID, sku: String, availableToSell: Int}`."
    )
    def entries(self) -> list[JSON]:
        return [JSON(item.to_json()) for item in self.records]


@strawberry.type(description="Where a channel's connector is in its feed.")
class ChannelSyncStatus:
    channel: Channel
    last_pull_at: datetime | None
    last_push_accepted_at: datetime | None = strawberry.field(
        description="Push mode: when a CHANNEL_SYNC_BATCH delivery last succeeded."
    )
    acknowledged_cursor: str | None
    acknowledged_at: datetime | None
    latest_cursor: str = strawberry.field(description="The newest cursor the feed can give.")
    lag_seconds: float | None = strawberry.field(
        description="Seconds since the last pull, acknowledgement or accepted push."
    )
    sequences_behind: Long | None = strawberry.field(
        description="Events published since the acknowledged cursor."
    )
    pending_changes: int | None = strawberry.field(
        description="Products changed since the acknowledged cursor (null: never acknowledged)."
    )
    stalled: bool = strawberry.field(
        description="A BATCH channel with no pull or accepted push for two sync intervals."
    )
    stalled_since: datetime | None

    @classmethod
    def of(cls, channel: channels.Channel, found: SyncStatus) -> ChannelSyncStatus:
        acked = found.acknowledged_cursor
        return cls(
            channel=Channel.from_record(channel),
            last_pull_at=found.last_pull_at,
            last_push_accepted_at=found.last_push_accepted_at,
            acknowledged_cursor=None if acked is None else str(acked),
            acknowledged_at=found.acknowledged_at,
            latest_cursor=str(found.latest_cursor),
            lag_seconds=found.lag_seconds,
            sequences_behind=None
            if found.sequences_behind is None
            else Long(found.sequences_behind),
            pending_changes=found.pending_changes,
            stalled=found.stalled,
            stalled_since=found.stalled_since,
        )


@strawberry.type(description="A product's ATS on a channel changed.")
class ChannelAvailabilityChange:
    product_id: strawberry.ID
    sku: str
    available_to_sell: int
    sequence: Long
    pk: strawberry.Private[int]
    channel_pk: strawberry.Private[int]

    @strawberry.field
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.pk)

    @strawberry.field
    async def channel(self, info: Info) -> Channel | None:
        record = await load_channel(info, self.channel_pk)
        return Channel.from_record(record) if record else None


async def readable_channel(
    info: Info, channel_id: strawberry.ID | None, channel_code: str | None
) -> channels.Channel:
    """The channel a query names (a bound caller's own by default)."""
    ref = required_channel_ref(info.context, channel_id, channel_code)
    async with info.context.services.engine.connect() as conn:
        return await channels.resolve_channel(conn, ref)


@strawberry.type
class ChannelFeedQuery:
    @strawberry.field(
        permission_classes=CHANNEL,
        description="The products whose availableToSell on the channel changed after the "
        "cursor, each once with its value now. Without `after`: a full snapshot of what the "
        "channel can sell, in pages; its last page's cursor continues the feed. An expired "
        "cursor is CURSOR_EXPIRED: take a new snapshot.",
    )
    async def channel_feed(
        self,
        info: Info,
        channel_id: strawberry.ID | None = None,
        channel_code: str | None = None,
        after: str | None = None,
        first: int = DEFAULT_FEED_PAGE,
    ) -> ChannelFeed:
        if not 1 <= first <= MAX_FEED_PAGE:
            raise GraphQLError(
                f"`first` must be between 1 and {MAX_FEED_PAGE}",
                extensions={"code": "BAD_USER_INPUT", "field": "first"},
            )
        channel = await readable_channel(info, channel_id, channel_code)
        cursor = Cursor.parse(after) if after is not None else None
        if syncs_for(info.context, channel.id):
            page = await in_transaction(
                info.context.services.engine,
                lambda conn: channel_sync.pull(conn, channel, cursor, first),
            )
        else:
            page = await info.context.read(
                lambda conn: channel_feed.read_page(conn, channel, cursor, first)
            )
        return ChannelFeed(
            channel=Channel.from_record(channel),
            records=page.items,
            cursor=str(page.cursor),
            has_more=page.has_more,
            snapshot=page.snapshot,
        )

    @strawberry.field(permission_classes=CHANNEL, description="A channel's sync progress.")
    async def channel_sync_status(
        self,
        info: Info,
        channel_id: strawberry.ID | None = None,
        channel_code: str | None = None,
    ) -> ChannelSyncStatus:
        channel = await readable_channel(info, channel_id, channel_code)
        async with info.context.services.engine.connect() as conn:
            found = await channel_sync.status(conn, channel)
        return ChannelSyncStatus.of(channel, found)


@strawberry.input
class AcknowledgeChannelSyncInput:
    channel_id: strawberry.ID | None = None
    channel_code: str | None = None
    cursor: str = strawberry.field(description="A cursor the feed handed out, once applied.")


@strawberry.type
class AcknowledgeChannelSyncPayload:
    status: ChannelSyncStatus | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChannelFeedMutation:
    @strawberry.mutation(description="Record that the connector applied the feed up to a cursor.")
    async def acknowledge_channel_sync(
        self, info: Info, input: AcknowledgeChannelSyncInput
    ) -> AcknowledgeChannelSyncPayload:
        async def work(context: Context) -> AcknowledgeChannelSyncPayload:
            ref = required_channel_ref(context, input.channel_id, input.channel_code)
            cursor = Cursor.parse(input.cursor, "cursor")

            async def change(conn: AsyncConnection) -> tuple[channels.Channel, SyncStatus]:
                channel = await channels.resolve_channel(conn, ref)
                if not syncs_for(context, channel.id):
                    raise DomainError.of(
                        ErrorCode.FORBIDDEN,
                        "only the channel's connector (or an admin) acknowledges its sync",
                        ref.field,
                    )
                return channel, await channel_sync.acknowledge(conn, channel, cursor)

            channel, found = await context.transaction(change)
            return AcknowledgeChannelSyncPayload(status=ChannelSyncStatus.of(channel, found))

        return await mutate(info, Permission.READ_CHANNEL, AcknowledgeChannelSyncPayload, work)


@strawberry.type
class ChannelFeedSubscription:
    @strawberry.subscription(
        description="A product's availableToSell on the channel changed (replayed after "
        "`after` first). A value equal to the last one sent is not sent again."
    )
    async def channel_availability_changed(
        self,
        info: Info,
        channel_id: strawberry.ID | None = None,
        channel_code: str | None = None,
        after: Long | None = None,
    ) -> AsyncGenerator[ChannelAvailabilityChange, None]:
        check(info, Permission.READ_CHANNEL)
        channel = await readable_channel(info, channel_id, channel_code)
        warehouses = frozenset(channel.warehouse_ids)
        engine = info.context.services.engine
        last: dict[int, int] = {}
        async for batch in stream_batches(
            info,
            channel_feed.TOPICS,
            lambda e: channel_feed.concerns(e, channel.id, warehouses),
            after,
        ):
            # The events waiting together are read in one query, each product once, as of
            # its last event: under a burst a product's figure is sent once, and current.
            latest = {e.product_id: e.sequence for e in batch if e.product_id is not None}
            products = sorted(latest, key=latest.__getitem__)
            async with engine.connect() as conn:
                found = await channel_feed.current_items(conn, channel, products)
            for item in found:  # in the order of their last events; a product gone is left out
                if last.get(item.product_id) == item.available_to_sell:
                    continue
                if len(last) >= REMEMBERED:
                    last.clear()
                last[item.product_id] = item.available_to_sell
                info.context.reset_loaders()
                yield ChannelAvailabilityChange(
                    product_id=strawberry.ID(global_id("Product", item.product_id)),
                    sku=item.sku,
                    available_to_sell=item.available_to_sell,
                    sequence=Long(latest[item.product_id]),
                    pk=item.product_id,
                    channel_pk=channel.id,
                )
