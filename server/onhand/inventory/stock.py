"""Stock movements asked for by clients: adjustInventory (a delta) and transferInventory (an
immediate move between warehouses, both legs in one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.records import Level
from onhand.core.refs import Ref
from onhand.db.transactions import sqlstate
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from onhand.inventory.idempotency import IdempotencyClaim, claim_for, claim_key, remember
from onhand.inventory.ledger import (
    AppliedMovement,
    ChangeContext,
    Movement,
    MovementType,
    Quantities,
    apply_change,
)
from onhand.inventory.refs import resolve_products, resolve_warehouses

# Reasons that name a movement type themselves, as clients send them
# (reason: 'TRANSFER_OUT' records a TRANSFER_OUT movement).
REASON_TYPES = {
    t.value: t
    for t in (
        MovementType.ADJUSTMENT,
        MovementType.RECEIPT,
        MovementType.SALE,
        MovementType.RETURN,
        MovementType.DAMAGE,
        MovementType.TRANSFER_OUT,
        MovementType.TRANSFER_IN,
        MovementType.CYCLE_COUNT,
    )
}
# Which way each type moves on-hand stock (absent: either way): a SALE of +1 is a mistake.
DIRECTIONS = {
    MovementType.RECEIPT: 1,
    MovementType.RETURN: 1,
    MovementType.TRANSFER_IN: 1,
    MovementType.SALE: -1,
    MovementType.DAMAGE: -1,
    MovementType.TRANSFER_OUT: -1,
}
SOLD_ON_A_CHANNEL = frozenset({MovementType.SALE, MovementType.RETURN})
DEFAULT_TRANSFER_REASON = "WAREHOUSE_TRANSFER"


@dataclass(frozen=True)
class Adjust:
    product: Ref
    warehouse: Ref
    adjustment: int
    reason: str
    type: MovementType | None = None
    occurred_at: datetime | None = None
    reference_id: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None
    # The channel a SALE (or RETURN) was made on: counted by PROPORTIONAL and VELOCITY.
    channel: ChannelRef | None = None


@dataclass(frozen=True)
class Transfer:
    product: Ref
    from_warehouse: Ref
    to_warehouse: Ref
    quantity: int
    reason: str | None = None
    occurred_at: datetime | None = None
    reference_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Adjusted:
    level: Level
    movement_id: int | None


@dataclass(frozen=True)
class Transferred:
    from_level: Level
    to_level: Level
    movement_ids: list[int]


@dataclass(frozen=True)
class _CheckedAdjust:
    type: MovementType
    reason: str | None
    occurred_at: datetime | None
    reference_id: str | None
    correlation_id: str | None
    claim: IdempotencyClaim | None

    def movement(
        self, request: Adjust, product_id: int, warehouse_id: int, channel_id: int | None = None
    ) -> Movement:
        return Movement(
            product_id,
            warehouse_id,
            self.type,
            Quantities(on_hand=request.adjustment),
            reason=self.reason,
            reference_id=self.reference_id,
            channel_id=channel_id,
            field="adjustment",
        )


def _adjustment_type(errors: Collector, request: Adjust) -> MovementType:
    """The movement's type: `type`, else a reason naming one, else ADJUSTMENT. Only the types
    a client's count or delivery can make; each going its own way."""
    adjustable = ", ".join(REASON_TYPES)
    kind = request.type or REASON_TYPES.get(request.reason or "")
    if request.type is not None and request.type not in REASON_TYPES.values():
        errors.add(
            ErrorCode.INVALID,
            f"type {request.type} is not made by adjustInventory; it makes {adjustable}",
            "type",
        )
    elif kind is None and request.reason in MovementType.__members__:
        errors.add(
            ErrorCode.INVALID,
            f"reason {request.reason} names a movement adjustInventory does not make; "
            f"a reason naming a type must be one of {adjustable}",
            "reason",
        )
    if request.channel is not None and kind not in SOLD_ON_A_CHANNEL:
        errors.add(
            ErrorCode.INVALID,
            "only a SALE or a RETURN names the channel it was made on",
            request.channel.field,
        )
    direction = DIRECTIONS.get(kind) if kind else None
    if direction is not None and request.adjustment * direction < 0:
        way = "adds stock: adjustment must be positive"
        if direction < 0:
            way = "removes stock: adjustment must be negative"
        errors.add(ErrorCode.INVALID, f"a {kind} {way}", "adjustment")
    return kind or MovementType.ADJUSTMENT


def _checked(request: Adjust) -> _CheckedAdjust:
    errors = Collector()
    check.quantity(errors, "adjustment", request.adjustment, allow_zero=False, allow_negative=True)
    checked = _CheckedAdjust(
        type=_adjustment_type(errors, request),
        reason=check.text(errors, "reason", request.reason, max_length=500, required=True),
        occurred_at=check.timestamp(errors, "timestamp", request.occurred_at),
        reference_id=check.text(errors, "referenceId", request.reference_id, max_length=200),
        correlation_id=check.text(errors, "correlationId", request.correlation_id, max_length=200),
        claim=claim_for("adjustInventory", request.idempotency_key, request),
    )
    errors.raise_if_any()
    return checked


async def adjust(conn: AsyncConnection, request: Adjust, context: ChangeContext) -> Adjusted:
    checked = _checked(request)
    replay = await claim_key(conn, checked.claim, context.actor)
    if replay is not None:
        return Adjusted(Level.from_json(replay["level"]), replay["movement_id"])
    product_id, warehouse_id = await _ids(conn, request.product, request.warehouse)
    channel_id = (await resolve_channel(conn, request.channel)).id if request.channel else None
    movement = checked.movement(request, product_id, warehouse_id, channel_id)
    change = _context(context, checked.occurred_at, checked.correlation_id)
    [applied] = await _apply(conn, [movement], change, request.product, request.warehouse)
    result = Adjusted(applied.level, applied.movement_id)
    await remember(
        conn, checked.claim, {"level": result.level.to_json(), "movement_id": result.movement_id}
    )
    return result


def written_alone(request: Adjust) -> bool:
    """An adjustment `adjust_together` never writes: an idempotency key to claim, a channel
    to resolve."""
    return request.idempotency_key is not None or request.channel is not None


async def adjust_together(
    engine: AsyncEngine, asked: Sequence[tuple[Adjust, ChangeContext]]
) -> list[Adjusted | DomainError | None]:
    """Adjustments written together, of any levels: those of one caller (one change records
    one actor, time and correlation id) by one ledger statement in a transaction of its own,
    so that the levels' locks (taken in level order) are held for that statement only. Each
    answers with its own movement and version. None for an adjustment left to be written on
    its own (`adjust`): one with an idempotency key to claim or a channel to resolve, one
    naming an unknown product or warehouse, and every one of a statement that refused any
    (which wrote nothing): alone, each gets its precise answer."""
    outcomes: list[Adjusted | DomainError | None] = [None] * len(asked)
    changes: dict[ChangeContext, list[tuple[int, Adjust, _CheckedAdjust]]] = {}
    for i, (request, context) in enumerate(asked):
        try:
            checked = _checked(request)
        except DomainError as error:
            outcomes[i] = error
            continue
        if not written_alone(request):
            change = _context(context, checked.occurred_at, checked.correlation_id)
            changes.setdefault(change, []).append((i, request, checked))
    if not changes:
        return outcomes
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for change, members in changes.items():
            try:
                product_ids = await _product_ids(conn, [r.product for _, r, _ in members])
                warehouse_ids = await _warehouse_ids(conn, [r.warehouse for _, r, _ in members])
            except DomainError:
                continue  # an unknown product or warehouse: said precisely alone
            movements = [
                checked.movement(request, product_id, warehouse_id)
                for (_, request, checked), product_id, warehouse_id in zip(
                    members, product_ids, warehouse_ids, strict=True
                )
            ]
            try:
                applied = await apply_change(conn, movements, change)
            except DomainError:
                continue
            except DBAPIError as error:
                if sqlstate(error) is None:
                    raise  # the connection failed: the change may have been written
                continue
            for (i, _, _), done in zip(members, applied, strict=True):
                outcomes[i] = Adjusted(done.level, done.movement_id)
    return outcomes


async def transfer(conn: AsyncConnection, request: Transfer, context: ChangeContext) -> Transferred:
    errors = Collector()
    check.quantity(errors, "quantity", request.quantity, allow_zero=False)
    reason = check.text(errors, "reason", request.reason, max_length=500)
    occurred_at = check.timestamp(errors, "timestamp", request.occurred_at)
    reference_id = check.text(errors, "referenceId", request.reference_id, max_length=200)
    same_id = request.from_warehouse.id is not None and (
        request.from_warehouse.id == request.to_warehouse.id
    )
    same_code = request.from_warehouse.key is not None and (
        request.from_warehouse.key == request.to_warehouse.key
    )
    if same_id or same_code:
        errors.invalid("toWarehouseId", "a transfer needs two different warehouses")
    idempotency = claim_for("transferInventory", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, idempotency, context.actor)
    if replay is not None:
        return Transferred(
            Level.from_json(replay["from_level"]),
            Level.from_json(replay["to_level"]),
            replay["movement_ids"],
        )
    [product_id] = await _product_ids(conn, [request.product])
    source, target = await _warehouse_ids(conn, [request.from_warehouse, request.to_warehouse])
    if source == target:
        raise DomainError.of(
            ErrorCode.INVALID, "a transfer needs two different warehouses", "toWarehouseId"
        )
    reason = reason or DEFAULT_TRANSFER_REASON
    legs = [
        Movement(
            product_id,
            source,
            MovementType.TRANSFER_OUT,
            Quantities(on_hand=-request.quantity),
            reason=reason,
            reference_id=reference_id,
            metadata={"toWarehouseId": target},
            field="quantity",
        ),
        Movement(
            product_id,
            target,
            MovementType.TRANSFER_IN,
            Quantities(on_hand=request.quantity),
            reason=reason,
            reference_id=reference_id,
            metadata={"fromWarehouseId": source},
        ),
    ]
    # The destination may not stock the product yet: its level is created at zero.
    change = _context(context, occurred_at, None, create_missing_levels=True)
    out_leg, in_leg = await _apply(
        conn, legs, change, request.product, request.from_warehouse, request.to_warehouse
    )
    result = Transferred(
        out_leg.level,
        in_leg.level,
        [m for m in (out_leg.movement_id, in_leg.movement_id) if m is not None],
    )
    await append(
        conn,
        [
            Event(
                Topic.INVENTORY_TRANSFERRED,
                {
                    "productId": product_id,
                    "fromWarehouseId": source,
                    "toWarehouseId": target,
                    "quantity": request.quantity,
                    "reason": reason,
                    "referenceId": reference_id,
                    "movementIds": result.movement_ids,
                    "changeId": out_leg.change_id,
                    "fromAfter": out_leg.level.on_hand,
                    "toAfter": in_leg.level.on_hand,
                    "actor": context.actor,
                },
                product_id=product_id,
                warehouse_id=source,
            )
        ],
    )
    await remember(
        conn,
        idempotency,
        {
            "from_level": result.from_level.to_json(),
            "to_level": result.to_level.to_json(),
            "movement_ids": result.movement_ids,
        },
    )
    return result


def _context(
    context: ChangeContext,
    occurred_at: datetime | None,
    correlation_id: str | None,
    *,
    create_missing_levels: bool = False,
) -> ChangeContext:
    return ChangeContext(
        actor=context.actor,
        source=context.source,
        occurred_at=occurred_at or context.occurred_at,
        correlation_id=correlation_id or context.correlation_id,
        create_missing_levels=create_missing_levels,
    )


async def _ids(conn: AsyncConnection, product: Ref, warehouse: Ref) -> tuple[int, int]:
    [product_id] = await _product_ids(conn, [product])
    [warehouse_id] = await _warehouse_ids(conn, [warehouse])
    return product_id, warehouse_id


async def _product_ids(conn: AsyncConnection, refs: list[Ref]) -> list[int]:
    """Ids as given, looking up only refs given by natural key (the hot path needs none)."""
    given = [ref.id for ref in refs if ref.id is not None]
    if len(given) == len(refs):
        return given
    return await resolve_products(conn, refs)


async def _warehouse_ids(conn: AsyncConnection, refs: list[Ref]) -> list[int]:
    given = [ref.id for ref in refs if ref.id is not None]
    if len(given) == len(refs):
        return given
    return await resolve_warehouses(conn, refs)


async def _apply(
    conn: AsyncConnection,
    movements: list[Movement],
    context: ChangeContext,
    product: Ref,
    *warehouses: Ref,
) -> list[AppliedMovement]:
    """Apply; when a level is missing, say precisely which product or warehouse is unknown."""
    try:
        return await apply_change(conn, movements, context)
    except DomainError as error:
        if not any(problem.code == ErrorCode.NOT_FOUND for problem in error.problems):
            raise
        await resolve_products(conn, [product])  # raises, naming the unknown one
        await resolve_warehouses(conn, list(warehouses))
        raise DomainError.of(
            ErrorCode.NOT_FOUND,
            "this product has no inventory level at this warehouse;"
            " create it with createInventoryLevel",
            product.field,
        ) from error
