"""Demand-driven safety buffers: a channel's buffer computed per product from its recent
sales on that channel and their variability, instead of a fixed percent.

For each product the channel can sell (stocked at one of its warehouses), over the last
N days (`lookbackDays`, days ending now, a day without sales counting as 0):

    mean      = units sold / N                                  (meanDailyDemand)
    deviation = sample standard deviation of the N daily sales   (dailyDeviation)
    z         = the standard normal quantile of the service level (0.95 -> 1.645)
    buffer    = ceil(z * deviation * sqrt(leadTimeDays)), then at least `minimumBuffer`
                and at most `maximumBuffer` (when set)

The buffer covers the swings of demand over the lead time (how long the channel may go on
selling before stock it shows is corrected: a marketplace's sync interval, say) with the
given probability; steady sellers keep little back, erratic ones more. Sales are the
ledger's SALE movements on the channel (by business time), as productSalesByChannel reads
them.

The computed buffer is written where every buffer lives, the channel x product row's
`buffer` (allocation.py, under that row's lock, with a CHANNEL_ALLOCATION_CHANGED event), so
available-to-sell, reservations and the channel feed use it through the one formula of
availability.py. Each computation and its inputs are kept (channel_demand_buffers) and
readable. On such a channel the computed buffer replaces any other (setChannelInventory's,
an allocation strategy's) at the next recomputation; turning the policy off gives the
products whose buffer is still the computed one back the default buffer.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.db.demand_buffer_tables import channel_demand_buffer_settings, channel_demand_buffers
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.channels.allocation import LOCK, AllocationRow, write_allocations
from onhand.inventory.channels.registry import ChannelRef, resolve_channel

SERVICE_LEVEL_RANGE = (0.5, 0.9999)
MAX_LOOKBACK_DAYS = 365
MAX_LEAD_TIME_DAYS = 90.0
MAX_BUFFER = 1_000_000


class Trigger(StrEnum):
    MANUAL = "MANUAL"
    SCHEDULED = "SCHEDULED"


@dataclass(frozen=True)
class Policy:
    """How a channel's buffers are computed."""

    channel_id: int
    enabled: bool
    service_level: float
    lookback_days: int
    lead_time_days: float
    minimum: int
    maximum: int | None
    version: int
    recomputed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Policy:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            channel_id=m["channel_id"],
            enabled=m["enabled"],
            service_level=m["service_level"],
            lookback_days=m["lookback_days"],
            lead_time_days=m["lead_time_days"],
            minimum=m["minimum"],
            maximum=m["maximum"],
            version=m["version"],
            recomputed_at=m["recomputed_at"],
        )


@dataclass(frozen=True)
class SetPolicy:
    channel: ChannelRef
    enabled: bool = True
    service_level: float = 0.95
    lookback_days: int = 28
    lead_time_days: float = 1.0
    # At least one unit kept back, as the percent buffer always keeps one.
    minimum: int = 1
    maximum: int | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class DemandBuffer:
    """One product's computed buffer and what it came from."""

    channel_id: int
    product_id: int
    buffer: int
    units_sold: int
    mean_daily: float
    deviation_daily: float
    days: int
    service_level: float
    z: float
    lead_time_days: float
    computed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> DemandBuffer:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Recomputed:
    policy: Policy
    product_count: int
    changed_count: int


def compute(
    product_id: int, channel_id: int, total: int, squares: int, policy: Policy
) -> DemandBuffer:
    """The formula of the module docstring, from the sum and the sum of squares of the
    daily sales over the policy's days."""
    days = policy.lookback_days
    mean = total / days
    variance = max(0.0, (squares - total * total / days) / (days - 1)) if days > 1 else 0.0
    deviation = math.sqrt(variance)
    z = statistics.NormalDist().inv_cdf(policy.service_level)
    raw = z * deviation * math.sqrt(policy.lead_time_days)
    # A hair of tolerance: 1.6449 * 2 * 1 must not round up to 4 by floating point.
    buffer = max(policy.minimum, math.ceil(raw - 1e-9))
    if policy.maximum is not None:
        buffer = min(buffer, policy.maximum)
    return DemandBuffer(
        channel_id=channel_id,
        product_id=product_id,
        buffer=buffer,
        units_sold=total,
        mean_daily=mean,
        deviation_daily=deviation,
        days=days,
        service_level=policy.service_level,
        z=z,
        lead_time_days=policy.lead_time_days,
    )


def _check(request: SetPolicy) -> None:
    errors = Collector()
    low, high = SERVICE_LEVEL_RANGE
    if not low <= request.service_level <= high:
        errors.invalid("serviceLevel", f"serviceLevel must be between {low} and {high}")
    if not 2 <= request.lookback_days <= MAX_LOOKBACK_DAYS:
        errors.invalid(
            "lookbackDays",
            f"lookbackDays must be between 2 and {MAX_LOOKBACK_DAYS} (a deviation needs two days)",
        )
    if not 0 < request.lead_time_days <= MAX_LEAD_TIME_DAYS:
        errors.invalid(
            "leadTimeDays", f"leadTimeDays must be above 0 and at most {MAX_LEAD_TIME_DAYS:g}"
        )
    if not 0 <= request.minimum <= MAX_BUFFER:
        errors.invalid("minimumBuffer", f"minimumBuffer must be between 0 and {MAX_BUFFER}")
    if request.maximum is not None and not request.minimum <= request.maximum <= MAX_BUFFER:
        errors.invalid(
            "maximumBuffer", f"maximumBuffer must be between minimumBuffer and {MAX_BUFFER}"
        )
    errors.raise_if_any()


_LOCK_POLICY = text("SELECT * FROM channel_demand_buffer_settings WHERE channel_id = :c FOR UPDATE")
_UPSERT_POLICY = text(
    """
    INSERT INTO channel_demand_buffer_settings AS s (channel_id, enabled, service_level,
        lookback_days, lead_time_days, minimum, maximum)
    VALUES (:channel_id, :enabled, :service_level, :lookback_days, :lead_time_days, :minimum,
        :maximum)
    ON CONFLICT (channel_id) DO UPDATE SET enabled = EXCLUDED.enabled,
        service_level = EXCLUDED.service_level, lookback_days = EXCLUDED.lookback_days,
        lead_time_days = EXCLUDED.lead_time_days, minimum = EXCLUDED.minimum,
        maximum = EXCLUDED.maximum, version = s.version + 1, updated_at = now()
    RETURNING *
    """
)


async def set_policy(conn: AsyncConnection, request: SetPolicy) -> Recomputed:
    """Set (or turn off) a channel's demand-driven buffers; on, they are computed at once."""
    _check(request)
    channel = await resolve_channel(conn, request.channel)
    current = (await conn.execute(_LOCK_POLICY, {"c": channel.id})).first()
    version = current.version if current is not None else 0
    if request.expected_version is not None and request.expected_version != version:
        raise DomainError.of(
            ErrorCode.VERSION_CONFLICT,
            f"this channel's buffer policy is at version {version}, not {request.expected_version}",
            "expectedVersion",
            current_version=version,
        )
    row = (
        await conn.execute(
            _UPSERT_POLICY,
            {
                "channel_id": channel.id,
                "enabled": request.enabled,
                "service_level": request.service_level,
                "lookback_days": request.lookback_days,
                "lead_time_days": request.lead_time_days,
                "minimum": request.minimum,
                "maximum": request.maximum,
            },
        )
    ).one()
    policy = Policy.from_row(row)
    if not policy.enabled:
        changed = await _give_back_default_buffers(conn, channel.id)
        return Recomputed(policy, 0, changed)
    return await _recompute(conn, policy, Trigger.MANUAL)


async def recompute(conn: AsyncConnection, channel: ChannelRef) -> Recomputed:
    """Recompute a channel's buffers now (recomputeDemandBuffers)."""
    found = await resolve_channel(conn, channel)
    row = (await conn.execute(_LOCK_POLICY, {"c": found.id})).first()
    if row is None or not row.enabled:
        raise DomainError.of(
            ErrorCode.INVALID,
            "this channel's buffers are not demand-driven; turn them on with"
            " setChannelDemandBuffer",
            channel.field,
        )
    return await _recompute(conn, Policy.from_row(row), Trigger.MANUAL)


# The sum and the sum of squares of each product's daily sales on the channel, for every
# product stocked at one of its warehouses (days are counted back from now).
_DEMAND = text(
    """
    WITH sellable AS (
        SELECT DISTINCT l.product_id FROM inventory_levels l
        JOIN channel_warehouses cw ON cw.warehouse_id = l.warehouse_id
        WHERE cw.channel_id = :channel_id
    ),
    daily AS (
        SELECT product_id, floor(extract(epoch FROM now() - occurred_at) / 86400) AS day,
            sum(-d_on_hand) AS sold
        FROM inventory_movements
        WHERE type = 'SALE' AND channel_id = :channel_id
          AND occurred_at > now() - CAST(:days AS int) * interval '1 day'
          AND occurred_at <= now()
        GROUP BY 1, 2
    ),
    stats AS (
        SELECT product_id, sum(sold) AS total, sum(sold * sold) AS squares
        FROM daily GROUP BY product_id
    )
    SELECT s.product_id, coalesce(t.total, 0)::bigint AS total,
        coalesce(t.squares, 0)::bigint AS squares
    FROM sellable s LEFT JOIN stats t ON t.product_id = s.product_id
    ORDER BY s.product_id
    """
)
_CURRENT = text(
    """
    SELECT product_id, buffer FROM channel_inventory
    WHERE channel_id = :channel_id AND product_id = ANY(CAST(:products AS bigint[]))
    """
)
_KEEP = text(
    """
    WITH k AS (
        SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS k(channel_id bigint,
            product_id bigint, buffer int, units_sold int, mean_daily float8,
            deviation_daily float8, days int, service_level float8, z float8,
            lead_time_days float8)
    ),
    gone AS (
        DELETE FROM channel_demand_buffers d WHERE d.channel_id = :channel_id
          AND NOT EXISTS (SELECT 1 FROM k WHERE k.product_id = d.product_id)
    )
    INSERT INTO channel_demand_buffers (channel_id, product_id, buffer, units_sold, mean_daily,
        deviation_daily, days, service_level, z, lead_time_days, computed_at)
    SELECT k.*, now() FROM k ORDER BY k.product_id
    ON CONFLICT (channel_id, product_id) DO UPDATE SET buffer = EXCLUDED.buffer,
        units_sold = EXCLUDED.units_sold, mean_daily = EXCLUDED.mean_daily,
        deviation_daily = EXCLUDED.deviation_daily, days = EXCLUDED.days,
        service_level = EXCLUDED.service_level, z = EXCLUDED.z,
        lead_time_days = EXCLUDED.lead_time_days, computed_at = now()
    """
)
_STAMP = text(
    "UPDATE channel_demand_buffer_settings SET recomputed_at = now() WHERE channel_id = :c"
    " RETURNING *"
)


async def _recompute(conn: AsyncConnection, policy: Policy, trigger: Trigger) -> Recomputed:
    channel_id = policy.channel_id
    rows = (
        await conn.execute(_DEMAND, {"channel_id": channel_id, "days": policy.lookback_days})
    ).all()
    computed = [compute(r.product_id, channel_id, r.total, r.squares, policy) for r in rows]
    await conn.execute(
        _KEEP,
        {"channel_id": channel_id, "rows": json.dumps([_stored(b) for b in computed])},
    )
    wanted = {b.product_id: b.buffer for b in computed}
    changed = await _write_buffers(conn, channel_id, wanted, "DEMAND_BUFFER")
    stamped = Policy.from_row((await conn.execute(_STAMP, {"c": channel_id})).one())
    await append(conn, [_recomputed_event(channel_id, trigger, len(computed), changed)])
    return Recomputed(stamped, len(computed), changed)


async def _write_buffers(
    conn: AsyncConnection, channel_id: int, wanted: Mapping[int, int | None], reason: str
) -> int:
    """Write the buffers that differ, each under its channel x product row's lock (the lock
    reservations take), keeping the allocation as it is then. Returns how many changed."""
    if not wanted:
        return 0
    products = list(wanted)
    current = {
        r.product_id: r.buffer
        for r in await conn.execute(_CURRENT, {"channel_id": channel_id, "products": products})
    }
    # Only the rows that change are locked: a large channel's reservations wait for no more.
    candidates = [p for p in products if p not in current or current[p] != wanted[p]]
    if not candidates:
        return 0
    locked = {
        r.product_id: r
        for r in await conn.execute(LOCK, {"channels": [channel_id], "products": candidates})
    }
    rows = [
        AllocationRow(
            channel_id,
            p,
            locked[p].allocated if p in locked else None,
            wanted[p],
            reason,
        )
        for p in candidates
        if p not in locked or locked[p].buffer != wanted[p]
    ]
    await write_allocations(conn, rows)
    return len(rows)


_COMPUTED_BUFFERS = text(
    """
    SELECT d.product_id FROM channel_demand_buffers d
    JOIN channel_inventory ci ON ci.channel_id = d.channel_id AND ci.product_id = d.product_id
    WHERE d.channel_id = :c AND ci.buffer = d.buffer
    """
)


async def _give_back_default_buffers(conn: AsyncConnection, channel_id: int) -> int:
    """Policy off: products whose buffer is still the computed one go back to the default."""
    products = (await conn.execute(_COMPUTED_BUFFERS, {"c": channel_id})).scalars().all()
    changed = await _write_buffers(
        conn, channel_id, dict.fromkeys(products, None), "DEMAND_BUFFER_OFF"
    )
    await conn.execute(
        text("DELETE FROM channel_demand_buffers WHERE channel_id = :c"), {"c": channel_id}
    )
    return changed


def _stored(b: DemandBuffer) -> dict[str, Any]:
    return {
        "channel_id": b.channel_id,
        "product_id": b.product_id,
        "buffer": b.buffer,
        "units_sold": b.units_sold,
        "mean_daily": b.mean_daily,
        "deviation_daily": b.deviation_daily,
        "days": b.days,
        "service_level": b.service_level,
        "z": b.z,
        "lead_time_days": b.lead_time_days,
    }


def _recomputed_event(channel_id: int, trigger: Trigger, products: int, changed: int) -> Event:
    return Event(
        Topic.DEMAND_BUFFERS_RECOMPUTED,
        {
            "channelId": channel_id,
            "trigger": str(trigger),
            "productCount": products,
            "changedCount": changed,
        },
        channel_id=channel_id,
    )


# -- The schedule ----------------------------------------------------------------------------

# The next channel due, claimed so that other processes take other channels.
_DUE = text(
    """
    SELECT * FROM channel_demand_buffer_settings
    WHERE enabled AND (recomputed_at IS NULL
        OR recomputed_at <= now() - CAST(:minutes AS float8) * interval '1 minute')
    ORDER BY recomputed_at NULLS FIRST, channel_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
    """
)


async def recompute_next_due(conn: AsyncConnection, interval_minutes: float) -> bool:
    """Recompute one channel whose buffers are due; False when none is."""
    row = (await conn.execute(_DUE, {"minutes": interval_minutes})).first()
    if row is None:
        return False
    await _recompute(conn, Policy.from_row(row), Trigger.SCHEDULED)
    return True


# -- Reading ---------------------------------------------------------------------------------


async def policy_of(conn: AsyncConnection, channel_id: int) -> Policy | None:
    row = (
        await conn.execute(
            select(channel_demand_buffer_settings).where(
                channel_demand_buffer_settings.c.channel_id == channel_id
            )
        )
    ).first()
    return Policy.from_row(row) if row is not None else None


def buffer_listing(channel_id: int, product_ids: Sequence[int] | None = None) -> Listing:
    c = channel_demand_buffers.c
    query = select(channel_demand_buffers).where(c.channel_id == channel_id)
    if product_ids is not None:
        query = query.where(c.product_id.in_(list(product_ids)))
    return Listing(query, c.product_id)
