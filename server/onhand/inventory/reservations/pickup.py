"""Reservations made for pickup (click-and-collect): every line is held at the one pickup
location named, and the reservations remember it (reservation_pickups).

Called from reserving.reserve_many only: `place_at_pickup` before the rows are locked and
judged (a request naming no pickup location costs nothing), `record_pickups` once the
reservations exist. Requests for pickup always go the locked way (optimistic.py leaves them
out), so these two steps see every one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.inventory.reservations.model import Reservation, ReservationType
from onhand.inventory.reservations.requests import Hold, Reserved, Resolved

_LOCATIONS = text(
    """
    SELECT id, code, is_active, 'PICKUP' = ANY(capabilities) AS pickup
    FROM warehouses
    WHERE id = ANY(CAST(:ids AS bigint[])) OR code = ANY(CAST(:codes AS text[]))
    """
)
_RECORD = text(
    """
    INSERT INTO reservation_pickups (reservation_id, warehouse_id)
    SELECT * FROM unnest(CAST(:reservations AS bigint[]), CAST(:warehouses AS bigint[]))
    """
)
_OF = text(
    """
    SELECT reservation_id, warehouse_id FROM reservation_pickups
    WHERE reservation_id = ANY(CAST(:ids AS bigint[]))
    """
)


async def place_at_pickup(
    conn: AsyncConnection,
    resolved: dict[int, Resolved],
    outcomes: list[Reserved | DomainError | None],
) -> None:
    """Hold each pickup request's lines at its pickup location; a request whose location is
    unknown, no pickup location, inactive or not the channel's, or whose lines name another
    warehouse, is refused (its outcome) and dropped from `resolved`."""
    asking = {i: item for i, item in resolved.items() if item.request.pickup_location is not None}
    if not asking:
        return
    refs = [item.request.pickup_location for item in asking.values()]
    rows = (
        await conn.execute(
            _LOCATIONS,
            {
                "ids": [r.id for r in refs if r is not None and r.id is not None],
                "codes": [r.key for r in refs if r is not None and r.key is not None],
            },
        )
    ).all()
    by_id = {row.id: row for row in rows}
    by_code = {row.code: row for row in rows}
    for i, item in asking.items():
        try:
            location = _location(item, by_id, by_code)
        except DomainError as error:
            outcomes[i] = error
            del resolved[i]
            continue
        item.warehouses = [location] * len(item.warehouses)


def _location(item: Resolved, by_id: Mapping[int, Any], by_code: Mapping[str, Any]) -> int:
    ref = item.request.pickup_location
    assert ref is not None
    row = by_id.get(ref.id) if ref.id is not None else by_code.get(ref.key or "")
    if row is None:
        raise DomainError.of(
            ErrorCode.NOT_FOUND, f"warehouse {ref.key or ref.id} does not exist", ref.field
        )
    problems: list[Problem] = []
    if not row.pickup:
        problems.append(
            Problem(
                ErrorCode.NOT_A_PICKUP_LOCATION,
                f"warehouse {row.code} is not a pickup location (no PICKUP capability)",
                ref.field,
            )
        )
    elif not row.is_active:
        problems.append(Problem(ErrorCode.INVALID, f"warehouse {row.code} is inactive", ref.field))
    channel = item.channel
    if channel is not None and row.id not in channel.warehouse_ids:
        problems.append(
            Problem(
                ErrorCode.INVALID,
                f"warehouse {row.code} does not fulfil channel {channel.code}",
                ref.field,
            )
        )
    if item.request.type == ReservationType.TRANSFER:
        problems.append(
            Problem(
                ErrorCode.INVALID, "a TRANSFER hold is not collected: use CART or ORDER", "type"
            )
        )
    for line, warehouse_id in zip(item.request.lines, item.warehouses, strict=True):
        if warehouse_id is not None and warehouse_id != row.id and line.warehouse is not None:
            problems.append(
                Problem(
                    ErrorCode.INVALID,
                    f"a reservation for pickup is held at the pickup location {row.code} only:"
                    " leave the warehouse out",
                    line.warehouse.field,
                )
            )
    if problems:
        raise DomainError(*problems)
    return int(row.id)


async def record_pickups(
    conn: AsyncConnection,
    holds: Sequence[Hold],
    made: Sequence[Reservation],
    resolved: Mapping[int, Resolved],
) -> None:
    """Remember the pickup location of each reservation made for pickup."""
    picked = [
        (reservation.id, reservation.warehouse_id)
        for hold, reservation in zip(holds, made, strict=True)
        if resolved[hold.request].request.pickup_location is not None
    ]
    if picked:
        await conn.execute(
            _RECORD,
            {"reservations": [r for r, _ in picked], "warehouses": [w for _, w in picked]},
        )


async def pickup_locations_of(
    conn: AsyncConnection, reservation_ids: Sequence[int]
) -> dict[int, int]:
    """The pickup location of each of these reservations made for pickup, by reservation id."""
    rows = await conn.execute(_OF, {"ids": list(reservation_ids)})
    return {row.reservation_id: row.warehouse_id for row in rows}
