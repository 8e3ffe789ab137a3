"""Which warehouses should ship an order: scored as the seed's calculateWarehouseScore does,
one warehouse that can ship every line when there is one, else a split across as few
warehouses as possible.

    score = 100
            - min(30, distance_km / 100)      closer is better (haversine)
            + min(30, available / needed * 10) more stock to spare is better
            + clamp(priority * 2, 0, 20)      the warehouse's priority
            + (1 - utilization) * 20          less busy is better

Without a destination the distance term is left out for every warehouse; a warehouse
without coordinates, when the destination has them, loses the full 30 points.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem

EARTH_RADIUS_KM = 6371.0
# Exhaustive search for the smallest split up to this many candidate warehouses; beyond,
# only the best-scored ones are considered.
MAX_CANDIDATES = 12


@dataclass(frozen=True, slots=True)
class Destination:
    latitude: float | None = None
    longitude: float | None = None

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True, slots=True)
class Site:
    """A warehouse that may ship: where it is, how important, how busy (0..1)."""

    warehouse_id: int
    latitude: float | None
    longitude: float | None
    priority: int
    utilization: float = 0.0


@dataclass(frozen=True, slots=True)
class Line:
    product_id: int
    quantity: int
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Pick:
    line: int  # index into the lines given
    product_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    warehouse_id: int
    score: float
    distance_km: float | None
    picks: tuple[Pick, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    shipments: tuple[Shipment, ...]

    @property
    def split(self) -> bool:
        return len(self.shipments) > 1


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    d_lat = math.radians(lat2 - lat1)
    d_lon = math.radians(lon2 - lon1)
    a = (
        math.sin(d_lat / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(d_lon / 2) ** 2
    )
    return EARTH_RADIUS_KM * 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a))


def distance_km(site: Site, destination: Destination) -> float | None:
    to_latitude, to_longitude = destination.latitude, destination.longitude
    if to_latitude is None or to_longitude is None:
        return None
    if site.latitude is None or site.longitude is None:
        return None
    return haversine_km(site.latitude, site.longitude, to_latitude, to_longitude)


def score(site: Site, destination: Destination, available_ratio: float) -> float:
    points = 100.0
    if destination.located:
        distance = distance_km(site, destination)
        points -= 30 if distance is None else min(30.0, distance / 100)
    points += min(30.0, max(0.0, available_ratio) * 10)
    points += max(0, min(20, site.priority * 2))
    points += (1 - min(1.0, max(0.0, site.utilization))) * 20
    return points


def _needs(lines: Sequence[Line]) -> dict[int, int]:
    needs: dict[int, int] = {}
    for line in lines:
        needs[line.product_id] = needs.get(line.product_id, 0) + line.quantity
    return needs


def _ratio(site: Site, needs: Mapping[int, int], stock: Mapping[tuple[int, int], int]) -> float:
    """How many times over the site could ship what it is asked for (its weakest product)."""
    return min(stock.get((p, site.warehouse_id), 0) / q for p, q in needs.items())


def plan(
    lines: Sequence[Line],
    sites: Sequence[Site],
    stock: Mapping[tuple[int, int], int],
    destination: Destination = Destination(),
) -> Plan:
    """Assign every line to warehouses. `stock` is the sellable quantity by (product,
    warehouse). Raises INSUFFICIENT_STOCK, per short line, when even all together fall short."""
    needs = _needs(lines)
    _require_enough(lines, sites, stock, needs)
    scored = sorted(
        ((score(s, destination, _ratio(s, needs, stock)), s) for s in sites),
        key=lambda pair: (-pair[0], pair[1].warehouse_id),
    )
    useful = [
        (points, s)
        for points, s in scored
        if any(stock.get((p, s.warehouse_id), 0) > 0 for p in needs)
    ]
    candidates = useful[:MAX_CANDIDATES]
    for size in range(1, len(candidates) + 1):
        feasible = [
            group
            for group in itertools.combinations(candidates, size)
            if all(
                sum(stock.get((p, s.warehouse_id), 0) for _, s in group) >= q
                for p, q in needs.items()
            )
        ]
        if feasible:
            best = max(feasible, key=lambda group: sum(points for points, _ in group))
            return _assign(lines, best, stock, destination)
    # Only reachable when the candidates were cut to MAX_CANDIDATES: fill greedily by score.
    return _assign(lines, tuple(useful), stock, destination)


def _require_enough(
    lines: Sequence[Line],
    sites: Sequence[Site],
    stock: Mapping[tuple[int, int], int],
    needs: Mapping[int, int],
) -> None:
    total = {p: sum(stock.get((p, s.warehouse_id), 0) for s in sites) for p in needs}
    short = [
        Problem(
            ErrorCode.INSUFFICIENT_STOCK,
            f"insufficient stock: {needs[line.product_id]} requested, {total[line.product_id]}"
            " available across the warehouses that may ship it",
            line.field,
            {"available": total[line.product_id], "requested": needs[line.product_id]},
        )
        for line in lines
        if total[line.product_id] < needs[line.product_id]
    ]
    if short:
        raise DomainError(*short)


def _assign(
    lines: Sequence[Line],
    group: Sequence[tuple[float, Site]],
    stock: Mapping[tuple[int, int], int],
    destination: Destination,
) -> Plan:
    """Take each line from the group's best-scored warehouses first."""
    left = {
        (p, s.warehouse_id): stock.get((p, s.warehouse_id), 0)
        for _, s in group
        for p in _needs(lines)
    }
    picks: dict[int, list[Pick]] = {s.warehouse_id: [] for _, s in group}
    for index, line in enumerate(lines):
        wanted = line.quantity
        for _, site in group:
            key = (line.product_id, site.warehouse_id)
            take = min(wanted, left[key])
            if take > 0:
                picks[site.warehouse_id].append(Pick(index, line.product_id, take))
                left[key] -= take
                wanted -= take
            if wanted == 0:
                break
    shipments = tuple(
        Shipment(
            site.warehouse_id,
            round(points, 3),
            _rounded(distance_km(site, destination)),
            tuple(picks[site.warehouse_id]),
        )
        for points, site in group
        if picks[site.warehouse_id]
    )
    return Plan(shipments)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# How busy each warehouse is: the share of its units on hand already held by reservations
# and orders waiting to ship. Keyed by warehouse id and creation time, so that a cached value
# can never be taken for another warehouse that reused an id.
_UTILIZATION = text(
    """
    SELECT w.id, extract(epoch FROM w.created_at)::float8 AS born,
        CASE WHEN sum(l.on_hand) > 0
             THEN least(1.0, sum(l.reserved + l.committed)::float8 / sum(l.on_hand))
             ELSE 0 END AS rate
    FROM warehouses w LEFT JOIN inventory_levels l ON l.warehouse_id = w.id
    WHERE CAST(:warehouses AS bigint[]) IS NULL OR w.id = ANY(CAST(:warehouses AS bigint[]))
    GROUP BY w.id
    """
)

WarehouseKey = tuple[int, float]


async def utilization(
    conn: AsyncConnection, warehouse_ids: Sequence[int] | None = None
) -> dict[WarehouseKey, float]:
    """Utilization (0..1) by (warehouse id, creation epoch); all warehouses by default."""
    given = list(warehouse_ids) if warehouse_ids is not None else None
    rows = await conn.execute(_UTILIZATION, {"warehouses": given})
    return {(row.id, row.born): float(row.rate) for row in rows}
