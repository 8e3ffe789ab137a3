"""Sales per channel, from the ledger: SALE movements carry their channel. One query answers
both the allocation strategies (each channel's sales over the lookback) and
productSalesByChannel (a product's sales per channel over a period or a date range)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import Collector
from onhand.core.refs import Ref
from onhand.db.channel_tables import channels
from onhand.inventory.channels.strategies import LOOKBACK_DAYS
from onhand.inventory.refs import resolve_product


class SalesPeriod(StrEnum):
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
    LAST_90_DAYS = "LAST_90_DAYS"
    LAST_365_DAYS = "LAST_365_DAYS"


PERIOD_DAYS = {
    SalesPeriod.LAST_7_DAYS: 7,
    SalesPeriod.LAST_30_DAYS: 30,
    SalesPeriod.LAST_90_DAYS: 90,
    SalesPeriod.LAST_365_DAYS: 365,
}
# The window when none is given: the allocation strategies' lookback (30 days).
DEFAULT_PERIOD = SalesPeriod.LAST_30_DAYS

# Units each channel sold of each product in the window, by business time (occurred_at):
# from `since` (default: `days` ago) up to `until` (default: no end).
_SALES = text(
    """
    SELECT channel_id, product_id, sum(-d_on_hand)::int AS sold
    FROM inventory_movements
    WHERE type = 'SALE'
      AND channel_id = ANY(CAST(:channels AS bigint[]))
      AND product_id = ANY(CAST(:products AS bigint[]))
      AND occurred_at >= coalesce(CAST(:since AS timestamptz),
                                  now() - CAST(:days AS int) * interval '1 day')
      AND (CAST(:until AS timestamptz) IS NULL OR occurred_at < CAST(:until AS timestamptz))
    GROUP BY channel_id, product_id
    """
)


async def sales(
    conn: AsyncConnection,
    channel_ids: Sequence[int],
    product_ids: Sequence[int],
    days: int = LOOKBACK_DAYS,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[tuple[int, int], int]:
    """Units sold per (channel, product): over the last `days`, or from `since` on."""
    rows = await conn.execute(
        _SALES,
        {
            "channels": list(channel_ids),
            "products": list(product_ids),
            "days": days,
            "since": since,
            "until": until,
        },
    )
    return {(row.channel_id, row.product_id): row.sold for row in rows}


@dataclass(frozen=True)
class SalesQuery:
    """A product and a window: a period, or a range from `since` (until `until`, default now).
    Neither: the default period."""

    product: Ref
    period: SalesPeriod | None = None
    since: datetime | None = None
    until: datetime | None = None
    channel_ids: Sequence[int] | None = None  # None: every channel


@dataclass(frozen=True)
class ChannelSales:
    channel_id: int
    quantity: int


async def product_sales_by_channel(
    conn: AsyncConnection, request: SalesQuery
) -> list[ChannelSales]:
    """The product's units sold per channel in the window, for the channels that sold any,
    the best seller first (ties: channel id). Sales made without a channel are not counted."""
    errors = Collector()
    if request.period is not None and (request.since is not None or request.until is not None):
        errors.invalid("period", "give a period or since/until, not both")
    if request.until is not None and request.since is None:
        errors.invalid("since", "give since with until (the range starts at since)")
    for name, value in (("since", request.since), ("until", request.until)):
        if value is not None and value.tzinfo is None:
            errors.invalid(name, f"{name} must include a timezone (e.g. 2024-05-01T00:00:00Z)")
    since, until = request.since, request.until
    if since and until and since.tzinfo and until.tzinfo and until <= since:
        errors.invalid("until", "until must be after since")
    errors.raise_if_any()
    product_id = await resolve_product(conn, request.product)
    channel_ids = request.channel_ids
    if channel_ids is None:
        channel_ids = (await conn.execute(select(channels.c.id))).scalars().all()
    days = PERIOD_DAYS[request.period or DEFAULT_PERIOD]
    sold = await sales(conn, channel_ids, [product_id], days, since=since, until=until)
    found = [ChannelSales(channel_id, quantity) for (channel_id, _), quantity in sold.items()]
    return sorted((s for s in found if s.quantity > 0), key=lambda s: (-s.quantity, s.channel_id))
