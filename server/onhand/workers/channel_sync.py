"""The batch-channel scheduler: once per sync interval per BATCH channel, push its changes (if it
has a webhook for CHANNEL_SYNC_BATCH on that channel) and check whether it has stalled.

Each channel's channel_sync row carries when it is next due; a step claims due rows one at a
time with FOR UPDATE SKIP LOCKED, so any number of processes share the work and each channel
is handled by one of them at a time. A push is ONE outbox event (a feed page: changed products
with their current ATS and the cursor); the webhook machinery delivers it, signed, retried and
dead-lettered like any other event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode
from onhand.db.transactions import in_transaction
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.channels import feed as channel_feed
from onhand.inventory.channels import sync as channel_sync
from onhand.inventory.channels.feed import Cursor, FeedPage
from onhand.inventory.channels.registry import Channel, get_channel
from onhand.services import Services

log = logging.getLogger(__name__)
# Products per pushed batch; a larger backlog goes out in further batches right after.
PUSH_LIMIT = 5000
# The loop looks for new batch channels and due ones at least this often.
POLL_SECONDS = 2.0
# Channels handled per step before yielding.
STEP_CHANNELS = 100
MIN_NAP = timedelta(milliseconds=100)
# While a batch is on its way (or not yet made a delivery) when the channel is due, the
# channel is looked at again this soon, so the next batch follows it at once rather than an
# interval later: a backlog of 25,000 products goes out in minutes, not in five intervals,
# and changes made while a slow endpoint takes a batch do not wait a whole interval more.
FOLLOW_UP = timedelta(seconds=1)

_ENSURE = text(
    """
    INSERT INTO channel_sync (channel_id, next_due_at)
    SELECT id, now() FROM channels WHERE kind = 'BATCH' AND is_active
    ON CONFLICT (channel_id) DO NOTHING
    """
)
_CLAIM = text(
    """
    SELECT s.* FROM channel_sync s JOIN channels c ON c.id = s.channel_id
    WHERE c.kind = 'BATCH' AND c.is_active AND (CAST(:all AS boolean) OR s.next_due_at <= now())
    ORDER BY s.next_due_at, s.channel_id
    LIMIT :limit
    FOR UPDATE OF s SKIP LOCKED
    """
)
_HAS_PUSH_HOOK = text(
    """
    SELECT EXISTS (SELECT 1 FROM webhooks WHERE is_active AND channel_id = :channel
        AND 'CHANNEL_SYNC_BATCH' = ANY(topics))
    """
)
# The channel's batches by their deliveries (to every webhook of the channel), newest first.
_BATCHES = text(
    """
    SELECT d.body -> 'data' ->> 'cursor' AS cursor,
        bool_or(d.status = 'PENDING') AS in_flight,
        bool_and(d.status = 'SUCCEEDED') AS accepted
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE w.channel_id = :channel AND d.topic = 'CHANNEL_SYNC_BATCH'
    GROUP BY d.sequence, d.body -> 'data' ->> 'cursor'
    ORDER BY d.sequence DESC
    LIMIT :limit
    """
)
_NEXT_DUE = text(
    """
    SELECT extract(epoch FROM min(s.next_due_at) - now()) FROM channel_sync s
    JOIN channels c ON c.id = s.channel_id WHERE c.kind = 'BATCH' AND c.is_active
    """
)


def batch_body(channel: Channel, page: FeedPage) -> dict[str, Any]:
    """What a pushed batch says: the same content as a feed page."""
    return {
        "channelId": channel.id,
        "channelCode": channel.code,
        "cursor": str(page.cursor),
        "hasMore": page.has_more,
        "snapshot": page.snapshot,
        "items": [item.to_json() for item in page.items],
    }


@dataclass(frozen=True, slots=True)
class PushStart:
    ready: bool  # the next batch may go now
    cursor: Cursor | None = None  # where it starts (None: a snapshot)
    follow_up: bool = False  # not ready: look again once the batch on its way is accepted


async def push_start(conn: AsyncConnection, state: Any, given_up_before: datetime) -> PushStart:
    """Whether the channel's next batch may go now (not while its last one is in flight),
    and the cursor it starts from.

    One batch is in flight at a time, so batches arrive in order and an older one can never
    overwrite a newer one's values. A batch that was dead-lettered was not accepted: the next
    starts again from the last accepted batch's cursor, so its changes are sent once more
    rather than lost. A batch that never became a delivery by `given_up_before` (its webhook
    was removed, say) is taken as not accepted too."""
    acknowledged = state.acknowledged_sequence
    fallback = None if acknowledged is None else Cursor(acknowledged)
    if state.pushed_cursor is None:
        return PushStart(True, fallback)
    batches = (await conn.execute(_BATCHES, {"channel": state.channel_id, "limit": 50})).all()
    latest = batches[0] if batches else None
    if latest is not None and latest.cursor == state.pushed_cursor and latest.in_flight:
        return PushStart(False, follow_up=True)  # being delivered
    if (latest is None or latest.cursor != state.pushed_cursor) and (
        state.last_push_at >= given_up_before
    ):
        return PushStart(False, follow_up=True)  # not queued for delivery yet: soon is
    accepted = next((b.cursor for b in batches if b.accepted), None)
    return PushStart(True, fallback if accepted is None else Cursor.parse(accepted))


async def push(
    conn: AsyncConnection, channel: Channel, state: Any, now: datetime, speed: float = 1.0
) -> FeedPage | PushStart:
    """Append the channel's next batch (or say why not: the last one is in flight): from where
    the last accepted push ended, from the connector's acknowledged cursor, or a snapshot
    (also when the old cursor has expired)."""
    given_up_before = now - channel_sync.STALL_INTERVALS * channel_sync.interval_of(channel, speed)
    start = await push_start(conn, state, given_up_before)
    if not start.ready:
        return start
    cursor = start.cursor
    try:
        page = await channel_feed.read_page(conn, channel, cursor, PUSH_LIMIT)
    except DomainError as error:
        if error.problems[0].code != ErrorCode.CURSOR_EXPIRED:
            raise
        page = await channel_feed.read_page(conn, channel, None, PUSH_LIMIT)
    await append(
        conn, [Event(Topic.CHANNEL_SYNC_BATCH, batch_body(channel, page), channel_id=channel.id)]
    )
    await conn.execute(
        text(
            "UPDATE channel_sync SET pushed_cursor = :cursor, last_push_at = now(),"
            " handed_out_sequence = greatest(handed_out_sequence, CAST(:handed AS bigint)),"
            " updated_at = now() WHERE channel_id = :channel"
        ),
        {
            "cursor": str(page.cursor),
            "handed": 0 if page.cursor.in_snapshot else page.cursor.sequence,
            "channel": channel.id,
        },
    )
    return page


async def visit(
    conn: AsyncConnection, channel: Channel, state: Any, now: datetime, speed: float = 1.0
) -> None:
    """One scheduled look at a channel: push if it is in push mode, check for a stall, and
    say when it is next due."""
    more = follow_up = False
    if (await conn.execute(_HAS_PUSH_HOOK, {"channel": channel.id})).scalar():
        pushed = await push(conn, channel, state, now, speed)
        if isinstance(pushed, FeedPage):
            more = pushed.has_more
        else:
            follow_up = pushed.follow_up
    await channel_sync.check_stall(conn, channel, state, now, speed)
    due = now + channel_sync.interval_of(channel, speed)
    if more:
        due = now
    elif follow_up:
        due = min(due, now + FOLLOW_UP)
    elif not state.stalled:
        due = min(due, channel_sync.stall_deadline(channel, state, speed))
    await conn.execute(
        text("UPDATE channel_sync SET next_due_at = :due WHERE channel_id = :channel"),
        {"due": max(due, now + MIN_NAP), "channel": channel.id},
    )


async def _claimed(conn: AsyncConnection, limit: int, every: bool) -> list[tuple[Channel, Any]]:
    rows = (await conn.execute(_CLAIM, {"limit": limit, "all": every})).all()
    found = []
    for row in rows:
        channel = await get_channel(conn, row.channel_id)
        if channel is not None:
            found.append((channel, row))
    return found


async def visit_due(conn: AsyncConnection, speed: float = 1.0) -> int:
    """Handle the next due channel; returns how many were handled (0 or 1)."""
    claimed = await _claimed(conn, 1, False)
    now = (await conn.execute(text("SELECT now()"))).scalar_one()
    for channel, state in claimed:
        await visit(conn, channel, state, now, speed)
    return len(claimed)


async def check_stalls(conn: AsyncConnection, now: datetime, speed: float = 1.0) -> None:
    """Check every batch channel for a stall as of `now` (channels another process is
    handling right now are skipped)."""
    await conn.execute(_ENSURE)
    for channel, state in await _claimed(conn, 10_000, True):
        await channel_sync.check_stall(conn, channel, state, now, speed)


async def schedule(services: Services) -> float | None:
    """One step of the loop: every due channel, then how long until the next is due."""
    engine = services.engine
    speed = services.settings.simulation_speed
    async with engine.begin() as conn:
        await conn.execute(_ENSURE)
    for _ in range(STEP_CHANNELS):
        if not await in_transaction(engine, lambda conn: visit_due(conn, speed)):
            break
    else:
        return 0
    async with engine.connect() as conn:
        due = (await conn.execute(_NEXT_DUE)).scalar()
    return None if due is None else max(float(due), MIN_NAP.total_seconds())
