"""What happens to reservations after they are made: released, extended, converted from a cart
to an order, fulfilled (the order ships) or expired (by the sweeper).

Every transition locks in the one order all reservation paths keep: the reservation rows (in
id order), then the channel x product rows (in channel, product order), then the levels (the
ledger, in id order). Only an ACTIVE reservation that has not expired may change; anything
else is INVALID_TRANSITION and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.kits.holds import kit_amounts
from onhand.inventory.ledger import ChangeContext, Movement, MovementType, Quantities, apply_change
from onhand.inventory.reservations.endings import (
    MAX_TEXT,
    HoldAccess,
    check_selection,
    end,
    held_by,
    lock_reservations,
    require_changeable,
)
from onhand.inventory.reservations.model import (
    ChangeKind,
    Reservation,
    ReservationType,
    event_insert,
    named,
)


@dataclass(frozen=True)
class Release:
    """By ids, or every active reservation of a reference (a whole cart)."""

    ids: tuple[int, ...] = ()
    reference_id: str | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Extend:
    id: int
    expires_at: datetime | None = None
    extend_by_seconds: int | None = None


@dataclass(frozen=True)
class Convert:
    cart_id: str
    order_id: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Fulfill:
    """By ids, or every active ORDER reservation of a reference (a whole order). A quantity
    (one reservation only) ships part of it."""

    ids: tuple[int, ...] = ()
    reference_id: str | None = None
    quantity: int | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


_CONVERT = text(
    f"""
    WITH changed AS (
        UPDATE reservations r SET type = 'ORDER', cart_reference_id = r.reference_id,
            reference_id = :order, expires_at = NULL, updated_at = now(),
            version = r.version + 1
        WHERE r.id = ANY(CAST(:ids AS bigint[]))
        RETURNING r.*
    ),
    events AS ({event_insert("r", ChangeKind.CONVERTED, "changed")})
    SELECT * FROM changed ORDER BY id
    """
)
_EXTEND = text(
    f"""
    WITH changed AS (
        UPDATE reservations r SET
            expires_at = coalesce(CAST(:expires_at AS timestamptz),
                                  r.expires_at + :seconds * interval '1 second'),
            updated_at = now(), version = r.version + 1
        WHERE r.id = :id OR r.kit_reservation_id = :id
        RETURNING r.*
    ),
    events AS ({event_insert("r", ChangeKind.EXTENDED, "changed")})
    SELECT *, expires_at <= now() AS lapsed FROM changed
    """
)


async def release(
    conn: AsyncConnection, request: Release, context: ChangeContext, access: HoldAccess
) -> list[Reservation]:
    errors = Collector()
    check_selection(errors, request.ids, request.reference_id)
    reason = check.text(errors, "reason", request.reason, max_length=500)
    claim = claim_for("releaseReservation", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return [Reservation.from_json(r) for r in replay["reservations"]]
    rows = await lock_reservations(
        conn, request.ids, request.reference_id, list(ReservationType), access
    )
    require_changeable(rows, "released")
    ended = await end(conn, rows, ChangeKind.RELEASED, context, reason=reason or "released")
    await remember(conn, claim, {"reservations": [r.to_json() for r in ended]})
    return ended


async def extend(
    conn: AsyncConnection, request: Extend, context: ChangeContext, access: HoldAccess
) -> Reservation:
    errors = Collector()
    if (request.expires_at is None) == (request.extend_by_seconds is None):
        errors.add(ErrorCode.REQUIRED, "give either expiresAt or extendBySeconds", "expiresAt")
    if request.expires_at is not None:
        if request.expires_at.tzinfo is None:
            errors.invalid("expiresAt", "expiresAt must include a timezone")
        elif request.expires_at <= datetime.now(UTC):
            errors.invalid("expiresAt", "expiresAt must be in the future")
    seconds = request.extend_by_seconds
    if seconds is not None and not 0 < seconds <= timedelta(days=30).total_seconds():
        errors.invalid("extendBySeconds", "extendBySeconds must be between 1 and 30 days")
    errors.raise_if_any()
    # A kit's reservation comes with its component holds, which all move together.
    rows = await lock_reservations(conn, [request.id], None, (), access)
    [row] = [r for r in rows if r.id == request.id]
    require_changeable(rows, "extended")
    if row.type == ReservationType.ORDER:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION, "ORDER reservations never expire: nothing to extend", "id"
        )
    every = (
        await conn.execute(
            _EXTEND,
            {
                "id": row.id,
                "expires_at": request.expires_at,
                "seconds": seconds or 0,
                "actor": context.actor,
            },
        )
    ).all()
    [changed] = [r for r in every if r.id == row.id]
    if changed.lapsed:
        raise DomainError.of(ErrorCode.INVALID, "the new expiry is already past", "extendBySeconds")
    return Reservation.from_row(changed)


async def convert(
    conn: AsyncConnection, request: Convert, context: ChangeContext, access: HoldAccess
) -> list[Reservation]:
    """A cart becomes an order: its reservations become ORDER reservations of `order_id`,
    never expire, and their units move from reserved to committed."""
    errors = Collector()
    cart = check.text(errors, "cartId", request.cart_id, max_length=MAX_TEXT, required=True)
    order = check.text(errors, "orderId", request.order_id, max_length=MAX_TEXT, required=True)
    claim = claim_for("convertToOrderReservation", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return [Reservation.from_json(r) for r in replay["reservations"]]
    try:
        rows = await lock_reservations(conn, (), cart, [ReservationType.CART], access, "cartId")
    except DomainError as error:
        if error.problems[0].code != ErrorCode.NOT_FOUND:
            raise
        raise await _why_not_convertible(conn, cart or "", access.channel_id) from None
    require_changeable(rows, "converted", "cartId")
    changed = (
        await conn.execute(
            _CONVERT, {"ids": [row.id for row in rows], "order": order, "actor": context.actor}
        )
    ).all()
    movements = [
        Movement(
            row.product_id,
            row.warehouse_id,
            MovementType.COMMITTED,
            Quantities(reserved=-held_by(row), committed=held_by(row)),
            reason="converted to order",
            reference_id=order,
            channel_id=row.channel_id,
            reservation_id=row.id,
        )
        for row in changed
    ]
    await apply_change(conn, movements, context)
    converted = [Reservation.from_row(row) for row in changed]
    await remember(conn, claim, {"reservations": [r.to_json() for r in converted]})
    return converted


_CART_STATES = text(
    """
    SELECT CASE WHEN type = 'CART' THEN status ELSE 'CONVERTED to ' || reference_id END
        AS state, count(*) AS n
    FROM reservations
    WHERE ((reference_id = :cart AND type = 'CART') OR cart_reference_id = :cart)
      AND (CAST(:scope AS bigint) IS NULL OR channel_id = :scope)
    GROUP BY 1 ORDER BY 1
    """
)


async def _why_not_convertible(conn: AsyncConnection, cart: str, scope: int | None) -> DomainError:
    rows = (await conn.execute(_CART_STATES, {"cart": cart, "scope": scope})).all()
    if not rows:
        return DomainError.of(ErrorCode.NOT_FOUND, f"cart {cart!r} has no reservations", "cartId")
    states = ", ".join(f"{row.n} {row.state}" for row in rows)
    return DomainError.of(
        ErrorCode.INVALID_TRANSITION,
        f"cart {cart!r} has no active reservations ({states})",
        "cartId",
    )


async def fulfill(
    conn: AsyncConnection, request: Fulfill, context: ChangeContext, access: HoldAccess
) -> list[Reservation]:
    """Ship: on hand and the held bucket fall together (a SALE movement with the channel,
    which is the sales history allocation strategies read); the channel's allocation, when it
    has one, is consumed by what shipped."""
    errors = Collector()
    check_selection(errors, request.ids, request.reference_id)
    if request.quantity is not None:
        check.quantity(errors, "quantity", request.quantity, allow_zero=False)
        if len(request.ids) != 1:
            errors.invalid("quantity", "a partial quantity ships one reservation (give one id)")
    occurred_at = check.timestamp(errors, "timestamp", request.occurred_at)
    claim = claim_for("fulfillReservation", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return [Reservation.from_json(r) for r in replay["reservations"]]
    types = [ReservationType.ORDER, ReservationType.CART]
    rows = await lock_reservations(conn, request.ids, request.reference_id, types, access)
    require_changeable(rows, "fulfilled")
    transfers = [row.id for row in rows if row.type == ReservationType.TRANSFER]
    if transfers:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"{named(transfers[0])} holds stock for a transfer; release it, or ship the"
            " transfer, instead",
            "id",
        )
    amounts = [held_by(row) for row in rows]
    # A kit's reservation ships whole kits: `quantity` counts kits (kits/holds.py).
    by_kit = kit_amounts(rows, request.quantity) if request.quantity is not None else None
    if by_kit is not None:
        amounts = by_kit
    elif request.quantity is not None:
        if request.quantity > amounts[0]:
            raise DomainError.of(
                ErrorCode.INVALID,
                f"the reservation holds {amounts[0]}; {request.quantity} cannot ship",
                "quantity",
                available=amounts[0],
                requested=request.quantity,
            )
        amounts = [request.quantity]
    change = ChangeContext(
        actor=context.actor,
        source=context.source,
        occurred_at=occurred_at or context.occurred_at,
        correlation_id=context.correlation_id,
    )
    shipped = await end(
        conn, rows, ChangeKind.FULFILLED, change, reason="fulfilled", amounts=amounts
    )
    await remember(conn, claim, {"reservations": [r.to_json() for r in shipped]})
    return shipped
