"""pickupAvailability: where a cart can be collected, and how much of each line each pickup
location can give, on live stock (advice, like fulfillmentPlan: it locks nothing).

A pickup location is an active warehouse with the PICKUP capability that fulfils the channel
(a reservation for pickup is held there, so it must be one of the channel's). For each
location and line:

    local     = the location's available (at zero at worst), within the channel's
                available-to-sell: exactly what a reservation for pickup there could take now
    transfer  = WITH_TRANSFERS only, at a location whose transfer lead time is within
                `withinHours` (any lead time when left out): what the other active warehouses
                have available, which a transfer order could bring in. From the channel's own
                warehouses it stays within the channel's available-to-sell (moving it changes
                nothing the channel may sell); from the others it adds to it, within what is
                left of the channel's allocation when it has one.
    available = local + transfer; missing = requested - available

Lines of the same product share its stock, in line order. The lead time is per receiving
location (the warehouse's `transferLeadHours`): onhand keeps no per-route transit times, and
transfer orders' expected deliveries are promises, not a measure of a route.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.core.validation import MAX_QUANTITY
from onhand.inventory.channels.availability import ChannelAvailability, availability
from onhand.inventory.channels.registry import Channel, ChannelRef, resolve_channel
from onhand.inventory.refs import resolve_products
from onhand.inventory.routing.planning import Destination, haversine_km

MAX_LINES = 100
LONGEST_DISTANCE_KM = 20_000.0  # half the globe: every place is nearer


class PickupMode(StrEnum):
    LOCAL = "LOCAL"  # stock at the location now
    WITH_TRANSFERS = "WITH_TRANSFERS"  # also what could be transferred in within a lead time


@dataclass(frozen=True)
class PickupLine:
    product: Ref
    quantity: int
    prefix: str = ""  # this line's input fields in errors: "lines.2."


@dataclass(frozen=True)
class PickupQuestion:
    lines: tuple[PickupLine, ...]
    channel: ChannelRef | None
    mode: PickupMode = PickupMode.LOCAL
    within_hours: int | None = None
    position: Destination | None = None
    max_distance_km: float | None = None


@dataclass(frozen=True, slots=True)
class LineAtLocation:
    line: int
    product_id: int
    requested: int
    local: int  # of `available`, what is at the location now
    transfer: int  # of `available`, what would be transferred in
    available: int
    missing: int


@dataclass(frozen=True, slots=True)
class PickupOption:
    warehouse_id: int
    distance_km: float | None
    lead_hours: int | None  # the location's transfer lead time
    lines: tuple[LineAtLocation, ...]

    @property
    def complete(self) -> bool:
        return all(line.missing == 0 for line in self.lines)

    @property
    def ready_in_hours(self) -> int:
        """0 when what it can give is all there; else the transfer lead time."""
        if all(line.transfer == 0 for line in self.lines):
            return 0
        return self.lead_hours or 0

    def order(self) -> tuple[int, int, int, float, int]:
        """Complete first, then fewest units missing, soonest ready, nearest."""
        missing = sum(line.missing for line in self.lines)
        distance = self.distance_km if self.distance_km is not None else math.inf
        complete = 0 if self.complete else 1
        return (complete, missing, self.ready_in_hours, distance, self.warehouse_id)


_LOCATIONS = text(
    """
    SELECT id, latitude, longitude, transfer_lead_hours
    FROM warehouses
    WHERE id = ANY(CAST(:ids AS bigint[])) AND is_active AND 'PICKUP' = ANY(capabilities)
    ORDER BY id
    """
)

# What each active warehouse has available of the (active) products, at zero at worst.
_STOCK = text(
    """
    SELECT l.product_id, l.warehouse_id, greatest(l.available, 0) AS sellable
    FROM inventory_levels l JOIN warehouses w ON w.id = l.warehouse_id AND w.is_active
    JOIN products p ON p.id = l.product_id AND p.is_active
    WHERE l.product_id = ANY(CAST(:products AS bigint[])) AND l.available > 0
    """
)


def _validated(question: PickupQuestion) -> None:
    errors = Collector()
    if not question.lines:
        errors.add(ErrorCode.REQUIRED, "give at least one line", "lines")
    elif len(question.lines) > MAX_LINES:
        errors.invalid("lines", f"at most {MAX_LINES} lines")
    for line in question.lines:
        check.quantity(errors, f"{line.prefix}quantity", line.quantity, allow_zero=False)
    if question.channel is None:
        errors.add(ErrorCode.REQUIRED, "give channelId or channelCode", "channelId")
    if question.within_hours is not None:
        if question.mode != PickupMode.WITH_TRANSFERS:
            errors.invalid("withinHours", "withinHours applies to mode WITH_TRANSFERS only")
        elif question.within_hours < 0:
            errors.invalid("withinHours", "withinHours must not be negative")
    position = question.position
    if position is not None:
        check.coordinates(errors, position.latitude, position.longitude, field="position")
    if question.max_distance_km is not None:
        if position is None or not position.located:
            errors.add(ErrorCode.REQUIRED, "maxDistanceKm needs a position", "position")
        if not 0 < question.max_distance_km <= LONGEST_DISTANCE_KM:
            errors.invalid(
                "maxDistanceKm", f"maxDistanceKm must be above 0 and at most {LONGEST_DISTANCE_KM}"
            )
    errors.raise_if_any()


async def pickup_availability(
    conn: AsyncConnection, question: PickupQuestion
) -> list[PickupOption]:
    """Every pickup location of the channel (within the distance, when given), best first."""
    _validated(question)
    assert question.channel is not None
    product_ids = await resolve_products(conn, [line.product for line in question.lines])
    channel = await resolve_channel(conn, question.channel)
    if not channel.is_active:
        raise DomainError.of(
            ErrorCode.INVALID, f"channel {channel.code} is inactive", question.channel.field
        )
    rows = (await conn.execute(_LOCATIONS, {"ids": list(channel.warehouse_ids)})).all()
    found = await availability(conn, [channel], product_ids)
    stock = {
        (row.product_id, row.warehouse_id): row.sellable
        for row in await conn.execute(_STOCK, {"products": product_ids})
    }
    options = []
    for row in rows:
        distance = _distance(row.latitude, row.longitude, question.position)
        if question.max_distance_km is not None and (
            distance is None or distance > question.max_distance_km
        ):
            continue
        transfers = _transfers_counted(question, row.transfer_lead_hours)
        lines = _lines_at(question.lines, product_ids, channel, found, stock, row.id, transfers)
        options.append(
            PickupOption(
                row.id,
                None if distance is None else round(distance, 1),
                row.transfer_lead_hours,
                lines,
            )
        )
    return sorted(options, key=PickupOption.order)


def _distance(
    latitude: float | None, longitude: float | None, position: Destination | None
) -> float | None:
    if position is None or position.latitude is None or position.longitude is None:
        return None
    if latitude is None or longitude is None:
        return None
    return haversine_km(latitude, longitude, position.latitude, position.longitude)


def _transfers_counted(question: PickupQuestion, lead_hours: int | None) -> bool:
    if question.mode != PickupMode.WITH_TRANSFERS or lead_hours is None:
        return False
    return question.within_hours is None or lead_hours <= question.within_hours


def _lines_at(
    lines: Sequence[PickupLine],
    product_ids: Sequence[int],
    channel: Channel,
    found: Mapping[tuple[int, int], ChannelAvailability],
    stock: Mapping[tuple[int, int], int],
    location: int,
    transfers: bool,
) -> tuple[LineAtLocation, ...]:
    # What is left of each product for the lines still to come (lines share a product's stock).
    local_left: dict[int, int] = {}
    total_left: dict[int, int] = {}
    for product_id in dict.fromkeys(product_ids):
        ats = found.get((channel.id, product_id))
        cap = _cap(channel, ats)
        here = stock.get((product_id, location), 0)
        local_left[product_id] = min(here, cap)
        total_left[product_id] = local_left[product_id]
        if transfers:
            inside = sum(
                units
                for (p, w), units in stock.items()
                if p == product_id and w != location and w in channel.warehouse_ids
            )
            outside = sum(
                units
                for (p, w), units in stock.items()
                if p == product_id and w not in channel.warehouse_ids
            )
            within = min(here + inside, cap)
            total_left[product_id] = min(within + outside, _allocation_left(ats, within))
    result = []
    for index, (line, product_id) in enumerate(zip(lines, product_ids, strict=True)):
        available = min(line.quantity, total_left[product_id])
        local = min(available, local_left[product_id])
        total_left[product_id] -= available
        local_left[product_id] -= local
        result.append(
            LineAtLocation(
                index,
                product_id,
                line.quantity,
                local,
                available - local,
                available,
                line.quantity - available,
            )
        )
    return tuple(result)


def _cap(channel: Channel, ats: ChannelAvailability | None) -> int:
    """What the channel lets a reservation take of the product now (nothing when it does not
    sell it; no cap beyond stock when it does not protect against overselling)."""
    if ats is None:
        return 0
    if not channel.oversell_protection:
        return MAX_QUANTITY
    return ats.available_to_sell


def _allocation_left(ats: ChannelAvailability | None, within: int) -> int:
    """The most the channel could sell once stock from outside it arrives: what is left of its
    allocation (less its buffer) when it has one, else no limit beyond the stock."""
    if ats is None:
        return within
    if ats.remaining_allocation is None:
        return MAX_QUANTITY
    return max(within, ats.remaining_allocation - ats.buffer)
