"""Judging reservation requests on locked rows: bad input refuses a request whole; otherwise
each line must fit the channel's available-to-sell (when it protects against overselling) and
its warehouse's available, lines without a warehouse are routed, and a cart is all or nothing
unless partial."""

from __future__ import annotations

from typing import Any

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.core.validation import MAX_QUANTITY
from onhand.inventory.channels.registry import Channel, ChannelKind
from onhand.inventory.reservations.model import ReservationType
from onhand.inventory.reservations.requests import (
    Hold,
    LineFailure,
    ReserveLine,
    ReserveRequest,
    Resolved,
)
from onhand.inventory.reservations.state import State
from onhand.inventory.routing.planning import Destination, Site
from onhand.inventory.routing.planning import Line as RouteLine
from onhand.inventory.routing.planning import plan as route


def check_lines(item: Resolved, state: State) -> None:
    """Bad input (unknown or unsellable product, a warehouse that may not ship): refused
    whole, whatever allowPartial says."""
    problems: list[Problem] = []
    channel = item.channel
    if channel is not None and not channel.is_active:
        where = item.request.channel.field if item.request.channel else "channelId"
        problems.append(Problem(ErrorCode.INVALID, f"channel {channel.code} is inactive", where))
    for line, product_id, warehouse_id in zip(
        item.request.lines, item.products, item.warehouses, strict=True
    ):
        product = state.products.get(product_id)
        where = f"{line.prefix}productId"
        if product is None:
            problems.append(
                Problem(ErrorCode.NOT_FOUND, f"product {product_id} does not exist", where)
            )
            continue
        if not product["is_active"]:
            problems.append(Problem(ErrorCode.INVALID, "this product is inactive", where))
        if (
            line.product is not None
            and line.variant_id is not None
            and product["variant"] != line.variant_id
        ):
            problems.append(
                Problem(
                    ErrorCode.INVALID,
                    f"variantId {line.variant_id!r} is not this product's variant",
                    f"{line.prefix}variantId",
                )
            )
        if warehouse_id is None:
            continue
        field_name = f"{line.prefix}warehouseId"
        if warehouse_id not in state.warehouses:
            problems.append(
                Problem(ErrorCode.NOT_FOUND, f"warehouse {warehouse_id} does not exist", field_name)
            )
        elif not state.active(warehouse_id):
            problems.append(Problem(ErrorCode.INVALID, "this warehouse is inactive", field_name))
        elif channel is not None and warehouse_id not in channel.warehouse_ids:
            problems.append(
                Problem(
                    ErrorCode.INVALID,
                    f"this warehouse does not fulfil channel {channel.code}",
                    field_name,
                )
            )
        elif (product_id, warehouse_id) not in state.stock and not _for_pickup(item):
            problems.append(
                Problem(
                    ErrorCode.NOT_FOUND,
                    "this product is not stocked at this warehouse",
                    field_name,
                )
            )
    if problems:
        raise DomainError(*problems)


def decide(item: Resolved, state: State) -> tuple[list[Hold], list[LineFailure]]:
    check_lines(item, state)
    request, channel = item.request, item.channel
    protected = channel is not None and channel.oversell_protection
    taken: dict[Any, int] = {}
    holds: list[Hold] = []
    failures: list[LineFailure] = []
    to_route: list[int] = []
    for index, line in enumerate(request.lines):
        product_id, warehouse_id = item.products[index], item.warehouses[index]
        if protected:
            assert channel is not None
            ats = state.ats(
                channel, product_id, taken, within_buffer=sold_against_feed(request, channel)
            )
            if line.quantity > ats:
                why = f"channel {channel.code} may sell {ats}"
                failures.append(_failure(index, line, product_id, ats, why))
                continue
        if warehouse_id is not None:
            left = state.sellable(product_id, warehouse_id, taken)
            if line.quantity > left and not _may_backorder(state, product_id, warehouse_id):
                why = f"this warehouse has {left} available"
                failures.append(_failure(index, line, product_id, left, why))
                continue
            holds.append(
                Hold(item.index, index, product_id, warehouse_id, _id(channel), line.quantity)
            )
            _take(taken, channel, product_id, warehouse_id, line.quantity)
        else:
            to_route.append(index)
            taken[("pending", product_id)] = taken.get(("pending", product_id), 0) + line.quantity
            if channel is not None:
                key = ("held", channel.id, product_id)
                taken[key] = taken.get(key, 0) + line.quantity
    routed, short = _route(item, state, taken, to_route)
    holds.extend(routed)
    failures.extend(short)
    failures.sort(key=lambda f: f.line)
    if failures and not request.allow_partial:
        raise DomainError(*(f.problem() for f in failures))
    state.commit(taken)
    return holds, failures


def _for_pickup(item: Resolved) -> bool:
    """A product a pickup location does not stock is none available there (a line short),
    not bad input: the customer named the location, not the warehouse (pickup.py)."""
    return item.request.pickup_location is not None


def _may_backorder(state: State, product_id: int, warehouse_id: int) -> bool:
    """Backorders go below zero on a level that exists, never on one that does not."""
    return state.backorders(warehouse_id) and (product_id, warehouse_id) in state.stock


def sold_against_feed(request: ReserveRequest, channel: Channel) -> bool:
    """A marketplace's order: the marketplace sold it against the figure its connector last
    pulled, which the channel's buffer kept below the real stock for exactly this: between
    two syncs other channels sell too. Such an order may take the buffer (never more than
    the warehouses really have, nor past an allocation); refusing it would cancel a sale
    the stock can fill. A live channel's carts, and its orders, stay within the buffer."""
    return request.type == ReservationType.ORDER and channel.kind == ChannelKind.BATCH


def _failure(
    index: int, line: ReserveLine, product_id: int, available: int, why: str
) -> LineFailure:
    return LineFailure(
        index,
        f"{line.prefix}quantity",
        product_id,
        line.quantity,
        available,
        f"insufficient stock: {line.quantity} requested; {why}",
    )


def _id(channel: Channel | None) -> int | None:
    return channel.id if channel is not None else None


def _take(
    taken: dict[Any, int],
    channel: Channel | None,
    product_id: int,
    warehouse_id: int,
    quantity: int,
) -> None:
    taken[(product_id, warehouse_id)] = taken.get((product_id, warehouse_id), 0) + quantity
    if channel is not None:
        key = ("held", channel.id, product_id)
        taken[key] = taken.get(key, 0) + quantity


def _route(
    item: Resolved, state: State, taken: dict[Any, int], indexes: list[int]
) -> tuple[list[Hold], list[LineFailure]]:
    """Place the lines without a warehouse; lines that cannot be placed fail (their channel
    hold, counted while judging, is given back)."""
    channel, lines = item.channel, item.request.lines
    failures: list[LineFailure] = []
    pending = list(indexes)
    while pending:
        products = {item.products[i] for i in pending}
        sites_by_id = {w: None for p in products for w in state.candidates(channel, p)}
        sites = [_site(state, w) for w in sorted(sites_by_id)]
        stock = {
            (p, s.warehouse_id): state.sellable(p, s.warehouse_id, taken)
            for p in products
            for s in sites
        }
        route_lines = [RouteLine(item.products[i], lines[i].quantity, str(i)) for i in pending]
        destination = item.request.destination or Destination()
        try:
            chosen = route(route_lines, sites, stock, destination)
        except DomainError as error:
            backordered = {
                **stock,
                **{
                    (p, s.warehouse_id): MAX_QUANTITY
                    for p in products
                    for s in sites
                    if state.backorders(s.warehouse_id)
                },
            }
            try:
                chosen = route(route_lines, sites, backordered, destination)
            except DomainError:
                short = {int(problem.field or 0) for problem in error.problems}
                for i in sorted(short):
                    available = sum(stock.get((item.products[i], s.warehouse_id), 0) for s in sites)
                    why = f"the warehouses that may ship it have {available} available"
                    failures.append(_failure(i, lines[i], item.products[i], available, why))
                    if channel is not None:
                        key = ("held", channel.id, item.products[i])
                        taken[key] -= lines[i].quantity
                pending = [i for i in pending if i not in short]
                continue
        holds = []
        for shipment in chosen.shipments:
            for pick in shipment.picks:
                index = pending[pick.line]
                holds.append(
                    Hold(
                        item.index,
                        index,
                        pick.product_id,
                        shipment.warehouse_id,
                        _id(channel),
                        pick.quantity,
                    )
                )
                stock_key = (pick.product_id, shipment.warehouse_id)
                taken[stock_key] = taken.get(stock_key, 0) + pick.quantity
        holds.sort(key=lambda h: (h.line, h.warehouse_id))
        return holds, failures
    return [], failures


def _site(state: State, warehouse_id: int) -> Site:
    info = state.warehouses[warehouse_id]
    return Site(
        warehouse_id,
        info.get("latitude"),
        info.get("longitude"),
        info.get("priority", 0),
        state.utilization.get((warehouse_id, info.get("born", 0.0)), 0.0),
    )
