"""fulfillmentPlan: which warehouses would ship an order now (routing.plan on live stock).

A plan is advice, not a hold: it locks nothing. Reservations without a warehouse are routed
the same way, on the rows they hold locked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.inventory.channels.availability import availability
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from onhand.inventory.refs import resolve_products
from onhand.inventory.routing.planning import Destination, Line, Plan, Site, plan, utilization

MAX_LINES = 250


@dataclass(frozen=True)
class PlanLine:
    product: Ref
    quantity: int
    field: str = ""


_CANDIDATES = text(
    """
    SELECT l.product_id, l.warehouse_id, greatest(l.available, 0) AS sellable,
        w.latitude, w.longitude, w.priority
    FROM inventory_levels l JOIN warehouses w ON w.id = l.warehouse_id AND w.is_active
    WHERE l.product_id = ANY(CAST(:products AS bigint[]))
      AND (CAST(:warehouses AS bigint[]) IS NULL
           OR l.warehouse_id = ANY(CAST(:warehouses AS bigint[])))
    """
)


async def fulfillment_plan(
    conn: AsyncConnection,
    lines: Sequence[PlanLine],
    destination: Destination,
    channel: ChannelRef | None = None,
) -> Plan:
    errors = Collector()
    if not lines:
        errors.add(ErrorCode.REQUIRED, "give at least one line", "lines")
    elif len(lines) > MAX_LINES:
        errors.invalid("lines", f"at most {MAX_LINES} lines")
    for line in lines:
        check.quantity(errors, f"{line.field}quantity", line.quantity, allow_zero=False)
    check.coordinates(errors, destination.latitude, destination.longitude, field="shippingAddress")
    errors.raise_if_any()
    product_ids = await resolve_products(conn, [line.product for line in lines])
    found = await resolve_channel(conn, channel) if channel is not None else None
    rows = (
        await conn.execute(
            _CANDIDATES,
            {
                "products": product_ids,
                "warehouses": list(found.warehouse_ids) if found is not None else None,
            },
        )
    ).all()
    busy = {w: rate for (w, _), rate in (await utilization(conn)).items()}
    sites = {
        row.warehouse_id: Site(
            row.warehouse_id,
            row.latitude,
            row.longitude,
            row.priority,
            busy.get(row.warehouse_id, 0),
        )
        for row in rows
    }
    stock = {(row.product_id, row.warehouse_id): int(row.sellable) for row in rows}
    route_lines = [
        Line(pid, line.quantity, f"{line.field}quantity")
        for pid, line in zip(product_ids, lines, strict=True)
    ]
    if found is not None and found.oversell_protection:
        _within_channel(await availability(conn, [found], product_ids), found.id, route_lines)
    return plan(
        route_lines, sorted(sites.values(), key=lambda s: s.warehouse_id), stock, destination
    )


def _within_channel(found: dict[Any, Any], channel_id: int, lines: Sequence[Line]) -> None:
    needs: dict[int, int] = {}
    for line in lines:
        needs[line.product_id] = needs.get(line.product_id, 0) + line.quantity
    problems = []
    for line in lines:
        ats = found[(channel_id, line.product_id)].available_to_sell
        if needs[line.product_id] > ats:
            problems.append(
                Problem(
                    ErrorCode.INSUFFICIENT_STOCK,
                    f"insufficient stock: {needs[line.product_id]} requested, the channel may"
                    f" sell {ats}",
                    line.field,
                    {"available": ats, "requested": needs[line.product_id]},
                )
            )
    if problems:
        raise DomainError(*problems)
