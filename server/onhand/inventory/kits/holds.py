"""Reserving a kit holds its components, in the same transaction.

DESIGN. A kit has no level, so a kit line of createReservation or reserveCart is judged as
its components' lines: after the reservation rows are locked (the locking statement locks a
kit's components in its place, in the one lock order every reservation path keeps), `expand`
replaces each kit line by one line per component (kits x units per kit, at the kit line's
warehouse, or routed with the request's other lines: from one warehouse when one can ship
them all, else split as any routed cart is), and the usual judgement applies to each: the
channel's ATS of the component, the warehouse's available, routing. So a kit sells only what its
components can give, and kits and their components sold at once can never oversell a
component: every path that takes a component's units locks the same rows, and the ledger
checks every level again.

The kit's reservation is its first component hold (the lowest id); every component hold of
the kit names it (`kit_reservation_id`, itself included), with the kit and its units per
kit. Ending the kit's reservation (release, convert, fulfil, extend, expire) ends all its
component holds together (reservations/endings.py locks them with it); ending one component
hold alone is refused (KIT_COMPONENT_HOLD). A cart with a kit line is all or nothing (a kit
is never partly reserved). Reserving a kit always goes the locked way: the one-statement way
(optimistic.py) sees the kit on its unlocked read and steps aside, and only then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.events.payloads import global_id
from onhand.inventory.reservations.model import Reservation
from onhand.inventory.reservations.requests import Hold, Reserved, Resolved
from onhand.inventory.reservations.state import State


@dataclass
class KitLine:
    """A kit line of a request, and the component lines it became (by their new index)."""

    request: int
    line: int
    kit_id: int
    kits: int
    prefix: str
    components: dict[int, tuple[int, int]] = field(default_factory=dict)  # -> product, units


def has_kits(resolved: Mapping[int, Resolved], state: State) -> bool:
    return any(_is_kit(state, p) for item in resolved.values() for p in item.products)


def _is_kit(state: State, product_id: int) -> bool:
    return bool(state.products.get(product_id, {}).get("is_kit"))


def expand(
    resolved: dict[int, Resolved],
    state: State,
    outcomes: list[Any],
) -> list[KitLine]:
    """Replace every kit line by its component lines (in place); a request naming an
    inactive kit is refused (its outcome set, and left out of `resolved`)."""
    kit_lines: list[KitLine] = []
    for i in list(resolved):
        item = resolved[i]
        if not any(_is_kit(state, p) for p in item.products):
            continue
        lines, products, warehouses = [], [], []
        mine: list[KitLine] = []
        problems: list[Problem] = []
        for index, (line, product_id, warehouse_id) in enumerate(
            zip(item.request.lines, item.products, item.warehouses, strict=True)
        ):
            info = state.products[product_id] if _is_kit(state, product_id) else None
            if info is None:
                lines.append(line)
                products.append(product_id)
                warehouses.append(warehouse_id)
                continue
            where = line.product.field if line.product else f"{line.prefix}variantId"
            if not info["is_active"]:
                problems.append(Problem(ErrorCode.INVALID, "this kit is inactive", where))
                continue
            kit = KitLine(i, index, product_id, line.quantity, line.prefix)
            for component in info["components"] or ():
                kit.components[len(lines)] = (component["product_id"], component["quantity"])
                lines.append(
                    replace(
                        line,
                        product=Ref(id=component["product_id"], field=where),
                        variant_id=None,
                        quantity=line.quantity * component["quantity"],
                    )
                )
                products.append(component["product_id"])
                warehouses.append(warehouse_id)
            mine.append(kit)
        if problems:
            outcomes[i] = DomainError(*problems)
            del resolved[i]
            continue
        item.request = replace(item.request, lines=tuple(lines), allow_partial=False)
        item.products = products
        item.warehouses = warehouses
        kit_lines.extend(mine)
    return kit_lines


def explain(kit_lines: Sequence[KitLine], outcomes: list[Any], state: State) -> None:
    """A refusal of a kit's component line, said in kits: how many kits were asked for and
    how many the short component allows."""
    for kit in kit_lines:
        error = outcomes[kit.request]
        if not isinstance(error, DomainError):
            continue
        units = dict(kit.components.values())
        problems = []
        for problem in error.problems:
            component = problem.details.get("product_id")
            if (
                problem.code != ErrorCode.INSUFFICIENT_STOCK
                or problem.field != f"{kit.prefix}quantity"
                or component not in units
            ):
                problems.append(problem)
                continue
            per_kit = units[component]
            sku = state.products.get(component, {}).get("sku", component)
            available = int(problem.details.get("available", 0)) // per_kit
            problems.append(
                Problem(
                    problem.code,
                    f"insufficient stock: {kit.kits} kit(s) requested; its component"
                    f" {sku} ({per_kit} per kit) allows {available}"
                    f" ({problem.message})",
                    problem.field,
                    {**problem.details, "available": available, "requested": kit.kits},
                )
            )
        outcomes[kit.request] = DomainError(*problems)


_LINK = text(
    """
    UPDATE reservations r SET kit_reservation_id = k.leader, kit_product_id = k.kit,
        kit_quantity = k.units
    FROM unnest(CAST(:ids AS bigint[]), CAST(:leaders AS bigint[]), CAST(:kits AS bigint[]),
        CAST(:units AS int[])) AS k(id, leader, kit, units)
    WHERE r.id = k.id
    RETURNING r.*
    """
)


async def link(
    conn: AsyncConnection,
    kit_lines: Sequence[KitLine],
    holds: Sequence[Hold],
    made: Sequence[Reservation],
    outcomes: list[Any],
) -> None:
    """Name each kit's reservation on its component holds; the outcomes show them so."""
    columns: dict[str, list[int]] = {"ids": [], "leaders": [], "kits": [], "units": []}
    for kit in kit_lines:
        mine = [
            (reservation, kit.components[hold.line])
            for hold, reservation in zip(holds, made, strict=True)
            if hold.request == kit.request and hold.line in kit.components
        ]
        if not mine:
            continue
        leader = min(reservation.id for reservation, _ in mine)
        for reservation, (_, units) in mine:
            columns["ids"].append(reservation.id)
            columns["leaders"].append(leader)
            columns["kits"].append(kit.kit_id)
            columns["units"].append(units)
    if not columns["ids"]:
        return
    linked = {row.id: Reservation.from_row(row) for row in await conn.execute(_LINK, columns)}
    for outcome in outcomes:
        if isinstance(outcome, Reserved):
            outcome.reservations[:] = [linked.get(r.id, r) for r in outcome.reservations]


def check_component_holds(rows: Sequence[Any], ids: Sequence[int], field: str) -> None:
    """A component hold of a kit changes only with its kit's reservation: named alone by id,
    it is refused."""
    named = set(ids)
    for row in rows:
        kit = row.kit_reservation_id
        if row.id in named and kit is not None and kit != row.id and kit not in named:
            raise DomainError.of(
                ErrorCode.KIT_COMPONENT_HOLD,
                f"reservation {global_id('Reservation', row.id)} holds a component of kit"
                f" reservation {global_id('Reservation', kit)}: change that one instead",
                field,
            )


def kit_amounts(rows: Sequence[Any], kits: int) -> list[int] | None:
    """Units each component hold of ONE kit's reservation ships when `kits` kits ship (None
    when the rows are not one kit's); more kits than it holds is refused."""
    leaders = {row.kit_reservation_id for row in rows}
    if len(leaders) != 1 or None in leaders:
        return None
    whole = min((row.quantity - row.fulfilled_quantity) // row.kit_quantity for row in rows)
    if kits > whole:
        raise DomainError.of(
            ErrorCode.INVALID,
            f"the kit reservation holds {whole} kit(s); {kits} cannot ship",
            "quantity",
            available=whole,
            requested=kits,
        )
    return [kits * row.kit_quantity for row in rows]
