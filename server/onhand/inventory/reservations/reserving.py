"""Making reservations: createReservation (one line) and reserveCart (several lines, all or
nothing unless partial), for one request or for a batch of independent requests sharing one
transaction (see coalescing.py).

In one transaction, locks taken in the one order every reservation path keeps:
1. the idempotency key (claimed first, as every operation does);
2. the channel x product rows (channel_inventory), created when missing, in (channel,
   product) order: this serializes reservations of one product on one channel;
3. the levels of the products at the warehouses that may ship them, in id order.
With those held, each request is judged on exact numbers: the channel's available-to-sell
(availability.compute) and each warehouse's available; lines without a warehouse are routed
(routing.plan). Then the reservation rows are inserted, the channels' `held` raised, one
RESERVATION_CHANGED event appended per reservation, and the movements applied through the
ledger, which checks every level again. A failure anywhere rolls everything back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.inventory.idempotency import IdempotencyClaim, claim_for, claim_key, remember
from onhand.inventory.kits import holds as kits
from onhand.inventory.ledger import ChangeContext, Movement, MovementType, Quantities, apply_change
from onhand.inventory.reservations.judging import decide
from onhand.inventory.reservations.limits import PurchaseLimits
from onhand.inventory.reservations.lookups import Lookups
from onhand.inventory.reservations.model import (
    ChangeKind,
    Reservation,
    ReservationType,
    event_insert,
)
from onhand.inventory.reservations.pickup import place_at_pickup, record_pickups
from onhand.inventory.reservations.requests import (
    MAX_TEXT,
    Hold,
    LineFailure,
    Reserved,
    ReserveLine,
    ReserveRequest,
    Resolved,
    Terms,
)
from onhand.inventory.reservations.shortfalls import report_shortfalls
from onhand.inventory.reservations.state import State

__all__ = [
    "LineFailure",
    "ReserveLine",
    "ReserveRequest",
    "Reserved",
    "Terms",
    "hold_columns",
    "judge_all",
    "reserve",
    "reserve_many",
    "resolve_all",
    "resolve_with",
    "validated",
]


async def reserve(
    conn: AsyncConnection, request: ReserveRequest, context: ChangeContext, terms: Terms
) -> Reserved:
    [outcome] = await reserve_many(conn, [request], context, terms)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def reserve_many(
    conn: AsyncConnection,
    requests: Sequence[ReserveRequest],
    context: ChangeContext,
    terms: Terms,
) -> list[Reserved | DomainError]:
    """Each request's outcome, in order. Requests succeed or fail on their own; the ones
    that fail leave nothing behind (their idempotency keys are let go). Idempotency keys must
    be distinct within one call. An unexpected ledger refusal raises for the whole batch."""
    outcomes: list[Reserved | DomainError | None] = [None] * len(requests)
    claims: list[IdempotencyClaim | None] = [None] * len(requests)
    for i, request in enumerate(requests):
        try:
            claims[i] = validated(request, terms)
        except DomainError as error:
            outcomes[i] = error
    resolved = await resolve_all(conn, requests, outcomes)
    await place_at_pickup(conn, resolved, outcomes)
    # Keys are claimed in key order, so that two batches sharing keys cannot deadlock.
    for i in sorted(resolved, key=lambda i: _claimed_key(claims[i])):
        try:
            replay = await claim_key(conn, claims[i], context.actor)
        except DomainError as error:
            outcomes[i] = error
            del resolved[i]
            continue
        if replay is not None:
            outcomes[i] = Reserved.from_json(replay)
            del resolved[i]
    state = await State.lock(conn, list(resolved.values()), terms.utilization)
    kit_lines = kits.expand(resolved, state, outcomes) if kits.has_kits(resolved, state) else []
    limits = await PurchaseLimits.load(conn, list(resolved.values()), state, kit_lines)
    holds = judge_all(resolved, state, outcomes, limits)
    made = await _insert(conn, holds, resolved, context, terms)
    await record_pickups(conn, holds, made, resolved)
    await _apply(conn, holds, made, resolved, context)
    await report_shortfalls(conn, resolved, outcomes, holds, context)
    for hold, reservation in zip(holds, made, strict=True):
        outcome = outcomes[hold.request]
        assert isinstance(outcome, Reserved)
        outcome.reservations.append(reservation)
    if kit_lines:
        kits.explain(kit_lines, outcomes, state)
        await kits.link(conn, kit_lines, holds, made, outcomes)
    for i, claim in enumerate(claims):
        if claim is None or i not in resolved:
            continue
        outcome = outcomes[i]
        if isinstance(outcome, Reserved):
            await remember(conn, claim, outcome.to_json())
        else:
            await _forget(conn, claim)
    return [
        o if o is not None else DomainError.of(ErrorCode.INVALID, "not processed") for o in outcomes
    ]


async def resolve_all(
    conn: AsyncConnection,
    requests: Sequence[ReserveRequest],
    outcomes: list[Reserved | DomainError | None],
) -> dict[int, Resolved]:
    """The requests not answered yet, by index, with their natural keys looked up; one that
    names something unknown gets its error as its outcome."""
    lookups = await Lookups.load(conn, [r for i, r in enumerate(requests) if outcomes[i] is None])
    return resolve_with(lookups, requests, outcomes)


def resolve_with(
    lookups: Lookups,
    requests: Sequence[ReserveRequest],
    outcomes: list[Reserved | DomainError | None],
) -> dict[int, Resolved]:
    """resolve_all, the natural keys already looked up."""
    resolved: dict[int, Resolved] = {}
    for i, request in enumerate(requests):
        if outcomes[i] is None:
            try:
                resolved[i] = lookups.resolve(i, request)
            except DomainError as error:
                outcomes[i] = error
    return resolved


def judge_all(
    resolved: Mapping[int, Resolved],
    state: State,
    outcomes: list[Reserved | DomainError | None],
    limits: PurchaseLimits | None = None,
) -> list[Hold]:
    """Each resolved request judged on `state`, in order: its refusal, or its lines not
    reserved (partial carts), as its outcome so far; the holds to make for all of them.
    `limits`: the purchase limits of the batch's limited products, if any."""
    holds: list[Hold] = []
    for i, item in resolved.items():
        try:
            if limits is not None:
                limits.check(item)
            decided, failures = decide(item, state)
        except DomainError as error:
            outcomes[i] = error
            continue
        if limits is not None:
            limits.count(item, decided)
        holds.extend(decided)
        outcomes[i] = Reserved([], failures)
    return holds


def _claimed_key(claim: IdempotencyClaim | None) -> str:
    return claim.key if claim is not None else ""


def validated(request: ReserveRequest, terms: Terms) -> IdempotencyClaim | None:
    """Refuses bad input (DomainError); the request's idempotency claim, if it has a key."""
    errors = Collector()
    if not request.lines:
        errors.add(ErrorCode.REQUIRED, "give at least one line to reserve", "lines")
    elif len(request.lines) > terms.max_lines:
        errors.invalid("lines", f"at most {terms.max_lines} lines may be reserved at once")
    for line in request.lines:
        name = f"{line.prefix}quantity"
        check.quantity(errors, name, line.quantity, allow_zero=False)
        check.text(errors, f"{line.prefix}variantId", line.variant_id, max_length=MAX_TEXT)
        if line.product is None and line.variant_id is None:
            errors.add(
                ErrorCode.REQUIRED,
                "give productId, sku or variantId",
                f"{line.prefix}productId",
            )
    check.text(errors, "referenceId", request.reference_id, max_length=MAX_TEXT)
    if request.expires_at is not None:
        if request.type == ReservationType.ORDER:
            errors.invalid("expiresAt", "ORDER reservations never expire: leave expiresAt out")
        elif request.expires_at.tzinfo is None:
            errors.invalid("expiresAt", "expiresAt must include a timezone")
        elif request.expires_at <= datetime.now(UTC):
            errors.invalid("expiresAt", "expiresAt must be in the future")
        elif request.expires_at > datetime.now(UTC) + terms.longest_hold(request.type):
            longest = terms.longest_hold(request.type)
            errors.invalid(
                "expiresAt", f"a {request.type.value} hold lasts at most {longest} from now"
            )
    destination = request.destination
    if destination is not None:
        check.coordinates(
            errors, destination.latitude, destination.longitude, field="shippingAddress"
        )
    claim = claim_for(request.operation, request.idempotency_key, request)
    errors.raise_if_any()
    return claim


_INSERT = text(
    f"""
    WITH made AS (
        INSERT INTO reservations (type, product_id, warehouse_id, channel_id, quantity,
            reference_id, variant_id, expires_at, actor)
        SELECT n.type, n.product_id, n.warehouse_id, n.channel_id, n.quantity, n.reference_id,
            n.variant_id,
            coalesce(n.expires_at, now() + n.ttl * interval '1 second'),
            :actor
        FROM unnest(CAST(:type AS text[]), CAST(:product_id AS bigint[]),
            CAST(:warehouse_id AS bigint[]), CAST(:channel_id AS bigint[]),
            CAST(:quantity AS int[]), CAST(:reference_id AS text[]), CAST(:variant_id AS text[]),
            CAST(:expires_at AS timestamptz[]), CAST(:ttl AS float8[]))
            WITH ORDINALITY AS n(type, product_id, warehouse_id, channel_id, quantity,
                reference_id, variant_id, expires_at, ttl, ord)
        ORDER BY n.ord
        RETURNING *
    ),
    held AS (
        UPDATE channel_inventory ci SET held = ci.held + d.quantity
        FROM (SELECT channel_id, product_id, sum(quantity) AS quantity FROM made
              WHERE channel_id IS NOT NULL GROUP BY channel_id, product_id) d
        WHERE ci.channel_id = d.channel_id AND ci.product_id = d.product_id
    ),
    events AS ({event_insert("r", ChangeKind.CREATED, "made")})
    SELECT * FROM made ORDER BY id
    """
)


def _ttl(request: ReserveRequest, terms: Terms) -> float | None:
    if request.expires_at is not None or request.type == ReservationType.ORDER:
        return None
    ttl = terms.transfer_ttl if request.type == ReservationType.TRANSFER else terms.cart_ttl
    return ttl.total_seconds()


def hold_columns(
    holds: Sequence[Hold], resolved: Mapping[int, Resolved], terms: Terms
) -> dict[str, list[Any]]:
    """The reservation rows to make for `holds`, column by column."""
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "type",
            "product_id",
            "warehouse_id",
            "channel_id",
            "quantity",
            "reference_id",
            "variant_id",
            "expires_at",
            "ttl",
        )
    }
    for hold in holds:
        item = resolved[hold.request]
        request = item.request
        line = request.lines[hold.line]
        columns["type"].append(str(request.type))
        columns["product_id"].append(hold.product_id)
        columns["warehouse_id"].append(hold.warehouse_id)
        columns["channel_id"].append(hold.channel_id)
        columns["quantity"].append(hold.quantity)
        columns["reference_id"].append(item.reference_id)
        columns["variant_id"].append(line.variant_id)
        columns["expires_at"].append(request.expires_at)
        columns["ttl"].append(_ttl(request, terms))
    return columns


async def _insert(
    conn: AsyncConnection,
    holds: Sequence[Hold],
    resolved: Mapping[int, Resolved],
    context: ChangeContext,
    terms: Terms,
) -> list[Reservation]:
    if not holds:
        return []
    rows = await conn.execute(
        _INSERT, {**hold_columns(holds, resolved, terms), "actor": context.actor}
    )
    return [Reservation.from_row(row) for row in rows]


async def _apply(
    conn: AsyncConnection,
    holds: Sequence[Hold],
    made: Sequence[Reservation],
    resolved: Mapping[int, Resolved],
    context: ChangeContext,
) -> None:
    movements = []
    for hold, reservation in zip(holds, made, strict=True):
        order = reservation.type == ReservationType.ORDER
        line = resolved[hold.request].request.lines[hold.line]
        movements.append(
            Movement(
                reservation.product_id,
                reservation.warehouse_id,
                MovementType.COMMITTED if order else MovementType.RESERVED,
                Quantities(committed=hold.quantity)
                if order
                else Quantities(reserved=hold.quantity),
                reference_id=reservation.reference_id,
                channel_id=reservation.channel_id,
                reservation_id=reservation.id,
                field=f"{line.prefix}quantity",
            )
        )
    await apply_change(conn, movements, context)


async def _forget(conn: AsyncConnection, claim: IdempotencyClaim) -> None:
    """Let go of a failed request's key, as a rolled-back transaction would."""
    await conn.execute(text("DELETE FROM idempotency_keys WHERE key = :key"), {"key": claim.key})
