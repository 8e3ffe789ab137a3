"""Sales channels: where stock is sold (a website, POS, an app, a marketplace), which
warehouses fulfil each, and how carefully each may sell (safety buffer, oversell protection)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode, Problem
from onhand.core.pagination import Listing
from onhand.core.refs import Ref
from onhand.db.channel_tables import channel_warehouses, channels
from onhand.db.sql import contains_any
from onhand.db.versioned import versioned_update
from onhand.inventory.refs import resolve_warehouses


class ChannelKind(StrEnum):
    REALTIME = "REALTIME"  # storefronts, POS, apps: query and reserve live
    BATCH = "BATCH"  # marketplaces: pull or are pushed their stock every sync interval


EDITABLE = (
    "code",
    "name",
    "kind",
    "priority",
    "safety_buffer_percent",
    "oversell_protection",
    "sync_interval_minutes",
    "is_active",
)
PRIORITY_RANGE = (-1000, 1000)
MAX_SYNC_INTERVAL_MINUTES = 7 * 24 * 60
OWN_CHANNEL_ONLY = "this token may only use its own channel"


@dataclass(frozen=True, slots=True)
class ChannelRef(Ref):
    """A channel named by a caller. `only` is the one channel that caller may name (a token
    bound to a channel), None when it may name any."""

    only: int | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    code: str
    name: str
    kind: ChannelKind
    priority: int
    safety_buffer_percent: float
    oversell_protection: bool
    sync_interval_minutes: float
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    warehouse_ids: tuple[int, ...] = ()

    @classmethod
    def from_row(cls, row: Any, warehouse_ids: Sequence[int] = ()) -> Channel:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            id=m["id"],
            code=m["code"],
            name=m["name"],
            kind=ChannelKind(m["kind"]),
            priority=m["priority"],
            safety_buffer_percent=m["safety_buffer_percent"],
            oversell_protection=m["oversell_protection"],
            sync_interval_minutes=m["sync_interval_minutes"],
            is_active=m["is_active"],
            version=m["version"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            warehouse_ids=tuple(sorted(warehouse_ids)),
        )

    @classmethod
    def from_json(cls, m: Mapping[str, Any]) -> Channel:
        """From a row as PostgreSQL's to_json writes it (with its warehouse_ids)."""
        return cls.from_row(
            {
                **m,
                "created_at": datetime.fromisoformat(m["created_at"]),
                "updated_at": datetime.fromisoformat(m["updated_at"]),
            },
            m["warehouse_ids"],
        )


@dataclass(frozen=True)
class ChannelFilter:
    is_active: bool | None = None
    kind: ChannelKind | None = None
    search: str | None = None
    ids: Sequence[int] = field(default_factory=tuple)


def _validate(values: Mapping[str, Any], errors: Collector) -> dict[str, Any]:
    clean = check.code_and_name(errors, values)
    if "kind" in values:
        if values["kind"] is None:
            errors.invalid("kind", "kind must be REALTIME or BATCH")
        else:
            clean["kind"] = str(ChannelKind(values["kind"]))
    if "priority" in values:
        low, high = PRIORITY_RANGE
        if values["priority"] is None or not low <= values["priority"] <= high:
            errors.invalid("priority", f"priority must be between {low} and {high}")
    percent = values.get("safety_buffer_percent", 0)
    if "safety_buffer_percent" in values and (percent is None or not 0 <= percent <= 100):
        errors.invalid("safetyBufferPercent", "safetyBufferPercent must be between 0 and 100")
    minutes = values.get("sync_interval_minutes", 1)
    if "sync_interval_minutes" in values and (
        minutes is None or not 0 < minutes <= MAX_SYNC_INTERVAL_MINUTES
    ):
        errors.invalid(
            "syncIntervalMinutes",
            f"syncIntervalMinutes must be above 0 and at most {MAX_SYNC_INTERVAL_MINUTES}",
        )
    for flag in ("is_active", "oversell_protection"):
        if flag in values and values[flag] is None:
            errors.invalid(check.camel(flag), f"{check.camel(flag)} must be true or false")
    return clean


async def create_channel(
    conn: AsyncConnection,
    values: Mapping[str, Any],
    warehouses: Sequence[Ref] = (),
    *,
    defaults: Mapping[str, Any] | None = None,
) -> Channel:
    """`defaults` come from configuration (safety buffer percent, sync interval)."""
    errors = Collector()
    for required in ("code", "name"):
        if values.get(required) is None:
            errors.add(ErrorCode.REQUIRED, f"{required} is required", required)
    clean = _validate({**(defaults or {}), **values}, errors)
    errors.raise_if_any()
    warehouse_ids = await resolve_warehouses(conn, warehouses) if warehouses else []
    try:
        async with conn.begin_nested():
            row = (await conn.execute(insert(channels).values(**clean).returning(channels))).one()
    except IntegrityError as error:
        raise _duplicate_code(clean["code"]) from error
    await _link(conn, row.id, warehouse_ids)
    return Channel.from_row(row, sorted(set(warehouse_ids)))


async def update_channel(
    conn: AsyncConnection,
    channel_id: int,
    changes: Mapping[str, Any],
    warehouses: Sequence[Ref] | None = None,
    expected_version: int | None = None,
) -> Channel:
    """Edit fields; `warehouses`, when given, replaces the set of fulfilling warehouses."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    errors = Collector()
    clean = _validate(changes, errors)
    errors.raise_if_any()
    warehouse_ids = await resolve_warehouses(conn, warehouses) if warehouses else []
    row = await versioned_update(
        conn,
        channels,
        channel_id,
        clean,
        expected_version,
        "channel",
        lambda: _duplicate_code(clean.get("code")),
    )
    if warehouses is not None:
        await conn.execute(
            delete(channel_warehouses).where(channel_warehouses.c.channel_id == row.id)
        )
        await _link(conn, row.id, warehouse_ids)
    linked = await warehouses_of_channels(conn, [row.id])
    return Channel.from_row(row, linked.get(row.id, []))


async def _link(conn: AsyncConnection, channel_id: int, warehouse_ids: Sequence[int]) -> None:
    if warehouse_ids:
        await conn.execute(
            insert(channel_warehouses),
            [{"channel_id": channel_id, "warehouse_id": w} for w in sorted(set(warehouse_ids))],
        )


def _duplicate_code(code: str | None) -> DomainError:
    return DomainError.of(
        ErrorCode.ALREADY_EXISTS, f"a channel with code {code!r} already exists", "code"
    )


async def warehouses_of_channels(
    conn: AsyncConnection, channel_ids: Sequence[int]
) -> dict[int, list[int]]:
    rows = await conn.execute(
        select(channel_warehouses.c.channel_id, channel_warehouses.c.warehouse_id)
        .where(channel_warehouses.c.channel_id.in_(channel_ids))
        .order_by(channel_warehouses.c.warehouse_id)
    )
    linked: dict[int, list[int]] = {cid: [] for cid in channel_ids}
    for channel_id, warehouse_id in rows:
        linked[channel_id].append(warehouse_id)
    return linked


# Channels with their warehouses, in one query (reservations look channels up on every call).
# The warehouses of channel `c`, for a select list (also read by reservations/lookups.py).
WAREHOUSE_IDS = """coalesce(
        (SELECT array_agg(cw.warehouse_id ORDER BY cw.warehouse_id)
         FROM channel_warehouses cw WHERE cw.channel_id = c.id), '{}')"""
_WITH_WAREHOUSES = text(
    f"""
    SELECT c.*, {WAREHOUSE_IDS} AS warehouse_ids
    FROM channels c
    WHERE c.id = ANY(CAST(:ids AS bigint[])) OR c.code = ANY(CAST(:codes AS text[]))
    """
)


async def load_channels(
    conn: AsyncConnection, ids: Sequence[int], codes: Sequence[str]
) -> list[Channel]:
    """Channels by id or code (unknown ones left out), with their warehouses."""
    rows = await conn.execute(_WITH_WAREHOUSES, {"ids": list(ids), "codes": list(codes)})
    return [Channel.from_row(row, row.warehouse_ids) for row in rows]


async def channels_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Channel]:
    return {channel.id: channel for channel in await load_channels(conn, ids, [])}


async def channels_by_codes(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, Channel]:
    return {channel.code: channel for channel in await load_channels(conn, [], codes)}


async def get_channel(conn: AsyncConnection, channel_id: int) -> Channel | None:
    return (await channels_by_ids(conn, [channel_id])).get(channel_id)


async def active_channels(conn: AsyncConnection) -> list[Channel]:
    ids = (await conn.execute(select(channels.c.id).where(channels.c.is_active))).scalars().all()
    return sorted(await load_channels(conn, ids, []), key=lambda channel: channel.id)


async def resolve_channels(conn: AsyncConnection, refs: Sequence[ChannelRef]) -> list[Channel]:
    """Channels by id or code, every unknown or forbidden one reported by its field."""
    loaded = await load_channels(
        conn, [r.id for r in refs if r.id is not None], [r.key for r in refs if r.key]
    )
    found: list[Channel] = []
    problems: list[Problem] = []
    for ref in refs:
        named = find_channel(ref, loaded)
        if isinstance(named, Problem):
            problems.append(named)
        else:
            found.append(named)
    if problems:
        raise DomainError(*problems)
    return found


async def resolve_channel(conn: AsyncConnection, ref: ChannelRef) -> Channel:
    return (await resolve_channels(conn, [ref]))[0]


def find_channel(ref: ChannelRef, loaded: Iterable[Channel]) -> Channel | Problem:
    """The channel `ref` names among those loaded, or why it may not be used. Every channel
    reference becomes a channel here, so no operation can skip the caller's binding: a
    bound caller naming any other channel, by id or by code, existing or not, is FORBIDDEN."""
    if not isinstance(ref, ChannelRef):
        raise TypeError("name channels with a ChannelRef (api/channels/access.py makes them)")
    channel = next(
        (c for c in loaded if (c.id == ref.id if ref.id is not None else c.code == ref.key)),
        None,
    )
    if ref.only is not None and (channel is None or channel.id != ref.only):
        return Problem(ErrorCode.FORBIDDEN, OWN_CHANNEL_ONLY, ref.field)
    if channel is None:
        named = ref.key if ref.key is not None else ref.id
        return Problem(ErrorCode.NOT_FOUND, f"channel {named} does not exist", ref.field)
    return channel


def channel_listing(filters: ChannelFilter) -> Listing:
    query = select(channels)
    if filters.is_active is not None:
        query = query.where(channels.c.is_active == filters.is_active)
    if filters.kind is not None:
        query = query.where(channels.c.kind == str(filters.kind))
    if filters.ids:
        query = query.where(channels.c.id.in_(filters.ids))
    if filters.search:
        query = query.where(contains_any(filters.search, channels.c.code, channels.c.name))
    return Listing(query, channels.c.id)
