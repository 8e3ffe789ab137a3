"""The shared steps of reservation transitions: locking reservation rows (first, in id order),
checking the caller may change them and that they may still change, and taking units off
reservations that end or ship (then their channels' rows, in order, then the levels through the
ledger).

Who may change whose holds is decided here, for every transition: a caller bound to a channel
only that channel's; a caller limited to live channels only holds of REALTIME channels and of
no channel; and the TRANSFER holds of a transfer order nobody, since only the order's own
transitions (ship, cancel) may end them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode, Problem
from onhand.events.payloads import global_id
from onhand.inventory.channels.registry import ChannelKind
from onhand.inventory.kits.holds import check_component_holds
from onhand.inventory.ledger import ChangeContext, Movement, MovementType, Quantities, apply_change
from onhand.inventory.reservations.model import (
    ChangeKind,
    Reservation,
    ReservationStatus,
    ReservationType,
    event_insert,
    named,
)
from onhand.inventory.transfers.orders import number_of

MAX_TEXT = 200


# With each row: whether it has lapsed, its channel's kind, and whether it is a transfer
# order's hold.
_ABOUT = """r.*, (r.expires_at IS NOT NULL AND r.expires_at <= now()) AS lapsed,
    (SELECT c.kind FROM channels c WHERE c.id = r.channel_id) AS channel_kind,
    (SELECT min(l.transfer_order_id) FROM transfer_order_lines l WHERE l.reservation_id = r.id)
        AS transfer_order_id"""
LOCK_IDS = text(
    f"""
    SELECT {_ABOUT}
    FROM reservations r
    WHERE r.id = ANY(CAST(:ids AS bigint[]))
       -- A kit's reservation brings its component holds (kits/holds.py).
       OR r.kit_reservation_id = ANY(CAST(:ids AS bigint[]))
    ORDER BY r.id FOR UPDATE
    """
)
LOCK_REFERENCE = text(
    f"""
    SELECT {_ABOUT}
    FROM reservations r
    WHERE r.reference_id = :reference AND r.status = 'ACTIVE'
      AND r.type = ANY(CAST(:types AS text[]))
      AND (CAST(:scope AS bigint) IS NULL OR r.channel_id = :scope)
    ORDER BY r.id FOR UPDATE
    """
)

# The newest reservation of a reference the caller may see, whatever its status.
_LATEST_OF_REFERENCE = text(
    """
    SELECT r.status FROM reservations r
    WHERE r.reference_id = :reference AND r.type = ANY(CAST(:types AS text[]))
      AND (CAST(:scope AS bigint) IS NULL OR r.channel_id = :scope)
    ORDER BY r.id DESC LIMIT 1
    """
)


@dataclass(frozen=True)
class HoldAccess:
    """Whose holds a caller may change. `channel_id`: only that channel's (a token bound to
    it). `realtime_only`: only those of REALTIME channels and of no channel. Neither: any."""

    channel_id: int | None = None
    realtime_only: bool = False

    def allows(self, row: Any) -> bool:
        if self.channel_id is not None:
            return bool(row.channel_id == self.channel_id)
        if self.realtime_only:
            return row.channel_kind in (None, ChannelKind.REALTIME)
        return True


# The reservations to change, with the amount to take off each. (Expiry is the sweeper's,
# a batch in one statement of its own: expiry.py.)
GIVEN = "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:amounts AS int[])) AS c(id, amount)"


def _end_sql(kind: ChangeKind) -> Any:
    """Take `amount` off each reservation: released or shipped (FULFILLED, fully or in part),
    and off its channel's `held` (and allocation, when shipped)."""
    shipped = kind == ChangeKind.FULFILLED
    status = (
        "CASE WHEN r.fulfilled_quantity + c.amount = r.quantity THEN 'FULFILLED' ELSE r.status END"
        if shipped
        else f"'{kind}'"
    )
    return text(
        f"""
        WITH c AS ({GIVEN}),
        changed AS (
            UPDATE reservations r SET
                fulfilled_quantity = r.fulfilled_quantity + {"c.amount" if shipped else "0"},
                status = {status},
                ended_at = CASE WHEN {status} <> 'ACTIVE' THEN now() END,
                updated_at = now(),
                version = r.version + 1
            FROM c WHERE r.id = c.id
            RETURNING r.*, c.amount
        ),
        channel_rows AS (
            SELECT ci.id FROM channel_inventory ci
            WHERE (ci.channel_id, ci.product_id) IN (SELECT channel_id, product_id FROM changed)
            ORDER BY ci.channel_id, ci.product_id
            FOR UPDATE
        ),
        held AS (
            UPDATE channel_inventory ci SET
                held = ci.held - d.amount,
                allocated = CASE WHEN {shipped} AND ci.allocated IS NOT NULL
                    THEN greatest(0, ci.allocated - d.amount) ELSE ci.allocated END,
                version = CASE WHEN {shipped} AND ci.allocated IS NOT NULL
                    THEN ci.version + 1 ELSE ci.version END
            FROM (SELECT channel_id, product_id, sum(amount) AS amount FROM changed
                  WHERE channel_id IS NOT NULL GROUP BY channel_id, product_id) d
            WHERE ci.channel_id = d.channel_id AND ci.product_id = d.product_id
              AND (SELECT count(*) FROM channel_rows) >= 0
        ),
        events AS ({event_insert("r", kind, "changed")})
        SELECT * FROM changed ORDER BY id
        """
    )


_STATEMENTS = {kind: _end_sql(kind) for kind in (ChangeKind.RELEASED, ChangeKind.FULFILLED)}
_MOVEMENT_TYPES = {
    ChangeKind.RELEASED: MovementType.RELEASED,
    ChangeKind.FULFILLED: MovementType.SALE,
}


async def lock_reservations(
    conn: AsyncConnection,
    ids: Sequence[int],
    reference_id: str | None,
    types: Sequence[ReservationType],
    access: HoldAccess,
    field: str | None = None,
) -> list[Any]:
    """Lock the reservations given by id, or the active ones of a reference (a caller bound
    to a channel finds only its channel's), and check the caller may change each."""
    field = field or ("id" if ids else "referenceId")
    if ids:
        rows = (await conn.execute(LOCK_IDS, {"ids": list(ids)})).all()
        missing = set(ids) - {row.id for row in rows}
        if missing:
            raise DomainError.of(
                ErrorCode.NOT_FOUND,
                f"no {named(min(missing))}",
                "id",
                missing=[global_id("Reservation", i) for i in sorted(missing)],
            )
    else:
        rows = (
            await conn.execute(
                LOCK_REFERENCE,
                {
                    "reference": reference_id,
                    "types": [str(t) for t in types],
                    "scope": access.channel_id,
                },
            )
        ).all()
        if not rows:
            raise await _none_active(conn, reference_id, types, access, field)
    check_component_holds(rows, ids, field)
    for row in rows:
        if not access.allows(row):
            raise _not_theirs(row, access, field)
        if row.transfer_order_id is not None:
            raise _transfer_order_hold(row.id, row.transfer_order_id, field)
    return list(rows)


# An active hold of a transfer order with this reference (a transfer order's number).
_TRANSFER_ORDER_HOLD = text(
    """
    SELECT r.id, l.transfer_order_id FROM reservations r
    JOIN transfer_order_lines l ON l.reservation_id = r.id
    WHERE r.reference_id = :reference AND r.status = 'ACTIVE'
    ORDER BY r.id LIMIT 1
    """
)


async def _none_active(
    conn: AsyncConnection,
    reference_id: str | None,
    types: Sequence[ReservationType],
    access: HoldAccess,
    field: str,
) -> DomainError:
    """Why a reference selected nothing: it names a transfer order's holds, which a type
    filter (a cart's, an order's) left out; or reservations that have ended (the same
    INVALID_TRANSITION as by id); or nothing the caller may see."""
    if access.channel_id is None:
        held = (await conn.execute(_TRANSFER_ORDER_HOLD, {"reference": reference_id})).first()
        if held is not None:
            return _transfer_order_hold(held.id, held.transfer_order_id, field)
    ended = (
        await conn.execute(
            _LATEST_OF_REFERENCE,
            {
                "reference": reference_id,
                "types": [str(t) for t in types],
                "scope": access.channel_id,
            },
        )
    ).first()
    if ended is not None:
        return DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"the reservations with referenceId {reference_id!r} are {ended.status}:"
            " only ACTIVE ones can change",
            field,
        )
    return DomainError.of(
        ErrorCode.NOT_FOUND, f"no active reservation has referenceId {reference_id!r}", field
    )


def _not_theirs(row: Any, access: HoldAccess, field: str) -> DomainError:
    if access.channel_id is not None:
        message = "this token may only change its own channel's reservations"
    else:
        message = (
            f"{named(row.id)} is held for a {row.channel_kind} channel: only a token bound"
            " to it, an operator or an admin may change it"
        )
    return DomainError.of(ErrorCode.FORBIDDEN, message, field)


def _transfer_order_hold(reservation_id: int, transfer_order_id: int, field: str) -> DomainError:
    return DomainError.of(
        ErrorCode.TRANSFER_ORDER_HOLD,
        f"{named(reservation_id)} holds stock for transfer order"
        f" {number_of(transfer_order_id)}:"
        " ship or cancel the transfer order instead",
        field,
    )


def require_changeable(rows: Sequence[Any], action: str, field: str = "id") -> None:
    problems = []
    for row in rows:
        if row.status != ReservationStatus.ACTIVE:
            problems.append(
                Problem(
                    ErrorCode.INVALID_TRANSITION,
                    f"{named(row.id)} is {row.status}; it cannot be {action}",
                    field,
                )
            )
        elif row.lapsed:
            problems.append(
                Problem(
                    ErrorCode.INVALID_TRANSITION,
                    f"{named(row.id)} expired at {row.expires_at.isoformat()}; it cannot"
                    f" be {action}",
                    field,
                )
            )
    if problems:
        raise DomainError(*problems)


def check_selection(errors: Collector, ids: Sequence[int], reference_id: str | None) -> None:
    if bool(ids) == (reference_id is not None):
        errors.add(ErrorCode.REQUIRED, "give either id(s) or referenceId", "id")
    check.text(errors, "referenceId", reference_id, max_length=MAX_TEXT)


def held_by(row: Any) -> int:
    return int(row.quantity - row.fulfilled_quantity)


def bucket_of(reservation_type: str, amount: int) -> Quantities:
    if reservation_type == ReservationType.ORDER:
        return Quantities(committed=amount)
    return Quantities(reserved=amount)


async def end(
    conn: AsyncConnection,
    rows: Sequence[Any],
    kind: ChangeKind,
    context: ChangeContext,
    *,
    reason: str,
    amounts: Sequence[int] | None = None,
) -> list[Reservation]:
    """Release or ship locked, changeable reservations (by default all they hold)."""
    amounts = list(amounts) if amounts is not None else [held_by(row) for row in rows]
    changed = (
        await conn.execute(
            _STATEMENTS[kind],
            {"ids": [row.id for row in rows], "amounts": amounts, "actor": context.actor},
        )
    ).all()
    await _apply(conn, changed, kind, context, reason)
    return [Reservation.from_row(row) for row in changed]


async def _apply(
    conn: AsyncConnection,
    changed: Sequence[Any],
    kind: ChangeKind,
    context: ChangeContext,
    reason: str,
) -> None:
    movements = []
    for row in changed:
        delta = bucket_of(row.type, -row.amount)
        if kind == ChangeKind.FULFILLED:
            delta = Quantities(
                on_hand=-row.amount, reserved=delta.reserved, committed=delta.committed
            )
        movements.append(
            Movement(
                row.product_id,
                row.warehouse_id,
                _MOVEMENT_TYPES[kind],
                delta,
                reason=reason,
                reference_id=row.reference_id,
                channel_id=row.channel_id,
                reservation_id=row.id,
            )
        )
    await apply_change(conn, movements, context)
