"""Where a channel's connector is in its feed: pulls, acknowledgements, status, stalls.

A batch channel is synced when its connector pulls its feed or a pushed batch is accepted by
its webhook. One that has done neither for two sync intervals is stalled: ONE SYNC_STALLED
event per stall, and ONE SYNC_RESUMED when it syncs again. The row lock on its channel_sync
row (taken with SKIP LOCKED by the scheduler, waited for by pulls) makes each transition
happen once, whatever the number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.channels import feed as channel_feed
from onhand.inventory.channels.feed import Cursor, FeedPage
from onhand.inventory.channels.registry import Channel, ChannelKind

# Stalled after this many sync intervals without a pull or an accepted push.
STALL_INTERVALS = 2

_ENSURE = text(
    "INSERT INTO channel_sync (channel_id) VALUES (:channel) ON CONFLICT (channel_id) DO NOTHING"
)
_LOCK = text("SELECT * FROM channel_sync WHERE channel_id = :channel FOR UPDATE")
_PULLED = text(
    """
    UPDATE channel_sync SET last_pull_at = now(), updated_at = now(),
        handed_out_sequence = greatest(handed_out_sequence, CAST(:handed AS bigint))
    WHERE channel_id = :channel
    """
)
# The last time a CHANNEL_SYNC_BATCH delivery to the channel's webhook succeeded.
_PUSH_ACCEPTED = text(
    """
    SELECT max(d.delivered_at) FROM webhook_deliveries d
    JOIN webhooks w ON w.id = d.webhook_id
    WHERE w.channel_id = :channel AND d.topic = 'CHANNEL_SYNC_BATCH' AND d.status = 'SUCCEEDED'
    """
)


# The cursor of the newest batch every webhook of the channel accepted: what the marketplace
# has applied, as a connector's acknowledgement says it in pull mode.
_LAST_ACCEPTED_CURSOR = text(
    """
    SELECT d.body -> 'data' ->> 'cursor' FROM webhook_deliveries d
    JOIN webhooks w ON w.id = d.webhook_id
    WHERE w.channel_id = :channel AND d.topic = 'CHANNEL_SYNC_BATCH'
    GROUP BY d.sequence, d.body -> 'data' ->> 'cursor'
    HAVING bool_and(d.status = 'SUCCEEDED')
    ORDER BY d.sequence DESC LIMIT 1
    """
)


async def _acknowledged_by_push(conn: AsyncConnection, channel: Channel) -> int | None:
    """The feed sequence an accepted push brought the channel to (None: no push accepted,
    or only snapshot pages part-way)."""
    found = (await conn.execute(_LAST_ACCEPTED_CURSOR, {"channel": channel.id})).scalar()
    if found is None:
        return None
    cursor = Cursor.parse(found)
    return cursor.sequence if cursor.product_id is None else None


@dataclass(frozen=True, slots=True)
class SyncStatus:
    channel_id: int
    last_pull_at: datetime | None
    last_push_accepted_at: datetime | None
    acknowledged_cursor: int | None
    acknowledged_at: datetime | None
    handed_out_cursor: int
    latest_cursor: int
    lag_seconds: float | None
    sequences_behind: int | None
    pending_changes: int | None
    stalled: bool
    stalled_since: datetime | None


def interval_of(channel: Channel, speed: float = 1.0) -> timedelta:
    """The channel's sync interval on the server's clock (`speed`: the simulation speed)."""
    return timedelta(minutes=channel.sync_interval_minutes) / speed


async def locked_state(conn: AsyncConnection, channel_id: int) -> Any:
    """The channel's sync row, made if missing, locked until the transaction ends."""
    await conn.execute(_ENSURE, {"channel": channel_id})
    return (await conn.execute(_LOCK, {"channel": channel_id})).one()


async def pull(
    conn: AsyncConnection, channel: Channel, after: Cursor | None, first: int
) -> FeedPage:
    """A connector reads a page of its feed: read it, then record the pull (and the end of a
    stall) in the same transaction."""
    page = await channel_feed.read_page(conn, channel, after, first)
    state = await locked_state(conn, channel.id)
    handed = page.cursor.sequence if not page.cursor.in_snapshot else 0
    await conn.execute(_PULLED, {"channel": channel.id, "handed": handed})
    if state.stalled:
        await _resume(conn, channel, datetime.now(UTC))
    return page


async def acknowledge(conn: AsyncConnection, channel: Channel, cursor: Cursor) -> SyncStatus:
    """The connector has applied everything up to `cursor`."""
    if cursor.in_snapshot:
        raise DomainError.of(
            ErrorCode.INVALID_CURSOR,
            "acknowledge the cursor a finished snapshot or a feed page handed out",
            "cursor",
        )
    state = await locked_state(conn, channel.id)
    if cursor.sequence > state.handed_out_sequence:
        raise DomainError.of(
            ErrorCode.INVALID_CURSOR,
            f"cursor {cursor.sequence} is ahead of what the feed handed out "
            f"({state.handed_out_sequence})",
            "cursor",
        )
    acked = state.acknowledged_sequence
    if acked is not None and cursor.sequence < acked:
        raise DomainError.of(
            ErrorCode.INVALID_CURSOR,
            f"cursor {cursor.sequence} is behind the one already acknowledged ({acked})",
            "cursor",
        )
    await conn.execute(
        text(
            "UPDATE channel_sync SET acknowledged_sequence = :s, acknowledged_at = now(),"
            " updated_at = now() WHERE channel_id = :channel"
        ),
        {"s": cursor.sequence, "channel": channel.id},
    )
    return await status(conn, channel)


async def status(conn: AsyncConnection, channel: Channel) -> SyncStatus:
    state = (
        await conn.execute(
            text("SELECT *, now() AS now FROM channel_sync WHERE channel_id = :channel"),
            {"channel": channel.id},
        )
    ).first()
    latest = await channel_feed.watermark(conn)
    pushed = (await conn.execute(_PUSH_ACCEPTED, {"channel": channel.id})).scalar()
    if state is None:
        return SyncStatus(
            channel.id, None, pushed, None, None, 0, latest, None, None, None, False, None
        )
    synced = [t for t in (state.last_pull_at, state.acknowledged_at, pushed) if t is not None]
    lag = (state.now - max(synced)).total_seconds() if synced else None
    # An accepted push batch acknowledges its cursor, as a connector does in pull mode.
    acked_by = [state.acknowledged_sequence, await _acknowledged_by_push(conn, channel)]
    acked = max((a for a in acked_by if a is not None), default=None)
    pending = None
    if acked is not None:
        pending = await channel_feed.count_changed(conn, channel.id, acked, latest)
    return SyncStatus(
        channel_id=channel.id,
        last_pull_at=state.last_pull_at,
        last_push_accepted_at=pushed,
        acknowledged_cursor=acked,
        acknowledged_at=state.acknowledged_at,
        handed_out_cursor=state.handed_out_sequence,
        latest_cursor=latest,
        lag_seconds=lag,
        sequences_behind=None if acked is None else max(0, latest - acked),
        pending_changes=pending,
        stalled=state.stalled,
        stalled_since=state.stalled_at,
    )


async def check_stall(
    conn: AsyncConnection, channel: Channel, state: Any, now: datetime, speed: float = 1.0
) -> None:
    """Raise or end the channel's stall as of `now` (`state`: its locked channel_sync row)."""
    if channel.kind != ChannelKind.BATCH or not channel.is_active:
        return
    pushed = (await conn.execute(_PUSH_ACCEPTED, {"channel": channel.id})).scalar()
    if pushed is not None and pushed != state.last_push_accepted_at:
        await conn.execute(
            text("UPDATE channel_sync SET last_push_accepted_at = :at WHERE channel_id = :channel"),
            {"at": pushed, "channel": channel.id},
        )
    synced = [t for t in (state.last_pull_at, pushed) if t is not None]
    last = max(synced) if synced else None
    since = last or max(state.created_at, channel.created_at)
    overdue = now - since >= STALL_INTERVALS * interval_of(channel, speed)
    if overdue and not state.stalled:
        await conn.execute(
            text(
                "UPDATE channel_sync SET stalled = true, stalled_at = :now, updated_at = now()"
                " WHERE channel_id = :channel"
            ),
            {"now": now, "channel": channel.id},
        )
        await append(conn, [_event(Topic.SYNC_STALLED, channel, last)])
    elif state.stalled and last is not None and last >= state.stalled_at:
        # Synced (an accepted push) since the stall was raised. A pull ends it at once.
        await _resume(conn, channel, last)


async def _resume(conn: AsyncConnection, channel: Channel, last: datetime | None) -> None:
    await conn.execute(
        text(
            "UPDATE channel_sync SET stalled = false, stalled_at = NULL, updated_at = now()"
            " WHERE channel_id = :channel"
        ),
        {"channel": channel.id},
    )
    await append(conn, [_event(Topic.SYNC_RESUMED, channel, last)])


def _event(topic: Topic, channel: Channel, last: datetime | None) -> Event:
    return Event(
        topic,
        {
            "channelId": channel.id,
            "channelCode": channel.code,
            "lastSyncAt": last.isoformat() if last else None,
            "syncIntervalMinutes": channel.sync_interval_minutes,
        },
        channel_id=channel.id,
    )


def stall_deadline(channel: Channel, state: Any, speed: float = 1.0) -> datetime:
    """When the channel stalls if it does not sync before."""
    synced = [t for t in (state.last_pull_at, state.last_push_accepted_at) if t is not None]
    since = max(synced) if synced else max(state.created_at, channel.created_at)
    return since + STALL_INTERVALS * interval_of(channel, speed)  # type: ignore[no-any-return]  # the state row is untyped
