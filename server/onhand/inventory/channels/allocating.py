"""allocateInventoryToChannels: allocations of many products to channels at once, by
strategy (see strategies.py), from the ledger's sales history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.inventory.channels.allocation import LOCK, AllocationRow, write_allocations
from onhand.inventory.channels.availability import ChannelAvailability, availability
from onhand.inventory.channels.registry import (
    Channel,
    ChannelRef,
    active_channels,
    resolve_channels,
)
from onhand.inventory.channels.sales import sales
from onhand.inventory.channels.strategies import (
    DAYS_OF_SUPPLY,
    LOOKBACK_DAYS,
    Demand,
    Share,
    Strategy,
    allocate,
)
from onhand.inventory.refs import resolve_products

MAX_PRODUCTS = 1000


@dataclass(frozen=True)
class CustomShare:
    channel: ChannelRef
    quantity: int
    buffer: int = 0
    product: Ref | None = None  # None: for every product allocated


@dataclass(frozen=True)
class Allocate:
    products: Sequence[Ref]
    strategy: Strategy
    channels: Sequence[ChannelRef] = ()  # none: every active channel
    total_quantity: int | None = None  # none: what the channels' warehouses have
    custom: Sequence[CustomShare] = ()
    buffer_percent: float | None = None
    lookback_days: int = LOOKBACK_DAYS
    days_of_supply: int = DAYS_OF_SUPPLY


# What the channels could share: their warehouses' available stock, plus what they already
# hold through reservations (an allocation counts what its channel holds).
_TOTALS = text(
    """
    SELECT p.id AS product_id,
        coalesce((SELECT sum(greatest(l.available, 0)) FROM inventory_levels l
                  JOIN warehouses w ON w.id = l.warehouse_id AND w.is_active
                  WHERE l.product_id = p.id
                    AND l.warehouse_id = ANY(CAST(:warehouses AS bigint[]))), 0)
        + coalesce((SELECT sum(ci.held) FROM channel_inventory ci
                    WHERE ci.product_id = p.id
                      AND ci.channel_id = ANY(CAST(:channels AS bigint[]))), 0) AS total
    FROM products p WHERE p.id = ANY(CAST(:products AS bigint[]))
    """
)


async def allocate_to_channels(
    conn: AsyncConnection, request: Allocate
) -> list[ChannelAvailability]:
    errors = Collector()
    if not request.products:
        errors.add(ErrorCode.REQUIRED, "give at least one product", "products")
    elif len(request.products) > MAX_PRODUCTS:
        errors.invalid("products", f"at most {MAX_PRODUCTS} products at once")
    check.quantity(errors, "totalQuantity", request.total_quantity)
    if request.buffer_percent is not None and not 0 <= request.buffer_percent <= 100:
        errors.invalid("bufferPercent", "bufferPercent must be between 0 and 100")
    for name, days in (
        ("lookbackDays", request.lookback_days),
        ("daysOfSupply", request.days_of_supply),
    ):
        if not 1 <= days <= 365:
            errors.invalid(name, f"{name} must be between 1 and 365")
    if (request.strategy == Strategy.CUSTOM) != bool(request.custom):
        errors.invalid("custom", "give custom quantities with the CUSTOM strategy, and only then")
    for i, share in enumerate(request.custom):
        check.quantity(errors, f"custom.{i}.quantity", share.quantity)
        check.quantity(errors, f"custom.{i}.buffer", share.buffer)
    errors.raise_if_any()
    product_ids = list(dict.fromkeys(await resolve_products(conn, request.products)))
    if request.strategy == Strategy.CUSTOM:
        rows = await _custom_rows(conn, request, product_ids)
        channels = await resolve_channels(conn, [s.channel for s in request.custom])
    else:
        channels = await _targets(conn, request.channels)
        rows = await _strategy_rows(conn, request, channels, product_ids)
    await write_allocations(conn, rows)
    found = await availability(conn, _unique(channels), product_ids)
    return [
        found[(r.channel_id, r.product_id)] for r in rows if (r.channel_id, r.product_id) in found
    ]


def _unique(channels: Sequence[Channel]) -> list[Channel]:
    return list({c.id: c for c in channels}.values())


async def _targets(conn: AsyncConnection, refs: Sequence[ChannelRef]) -> list[Channel]:
    channels = await resolve_channels(conn, refs) if refs else await active_channels(conn)
    if not channels:
        raise DomainError.of(
            ErrorCode.INVALID, "there is no active channel to allocate to", "channels"
        )
    return _unique(channels)


async def _strategy_rows(
    conn: AsyncConnection,
    request: Allocate,
    channels: Sequence[Channel],
    product_ids: Sequence[int],
) -> list[AllocationRow]:
    channel_ids = [c.id for c in channels]
    warehouses = sorted({w for c in channels for w in c.warehouse_ids})
    totals = {
        row.product_id: int(row.total)
        for row in await conn.execute(
            _TOTALS, {"warehouses": warehouses, "channels": channel_ids, "products": product_ids}
        )
    }
    sold = await sales(conn, channel_ids, product_ids, request.lookback_days)
    # Lock before writing, in the order every path locks these rows.
    await conn.execute(LOCK, {"channels": channel_ids, "products": product_ids})
    rows: list[AllocationRow] = []
    for product_id in product_ids:
        total = request.total_quantity if request.total_quantity is not None else totals[product_id]
        demands = [Demand(c.id, c.priority, sold.get((c.id, product_id), 0)) for c in channels]
        shares: list[Share] = allocate(
            request.strategy,
            total,
            demands,
            buffer_percent=request.buffer_percent,
            lookback_days=request.lookback_days,
            supply_days=request.days_of_supply,
        )
        rows.extend(
            AllocationRow(s.channel_id, product_id, s.quantity, s.buffer, str(request.strategy))
            for s in shares
        )
    return rows


async def _custom_rows(
    conn: AsyncConnection, request: Allocate, product_ids: Sequence[int]
) -> list[AllocationRow]:
    channels = await resolve_channels(conn, [s.channel for s in request.custom])
    specific = [s.product for s in request.custom if s.product is not None]
    named = (
        dict(zip(specific, await resolve_products(conn, specific), strict=True)) if specific else {}
    )
    chosen: dict[tuple[int, int], AllocationRow] = {}
    # General shares first, so that a share naming its product wins over them.
    for share, channel in sorted(
        zip(request.custom, channels, strict=True), key=lambda sc: sc[0].product is not None
    ):
        targets = product_ids if share.product is None else [named[share.product]]
        for product_id in targets:
            chosen[(channel.id, product_id)] = AllocationRow(
                channel.id, product_id, share.quantity, share.buffer, str(Strategy.CUSTOM)
            )
    await conn.execute(
        LOCK, {"channels": sorted({c.id for c in channels}), "products": list(product_ids)}
    )
    return list(chosen.values())
