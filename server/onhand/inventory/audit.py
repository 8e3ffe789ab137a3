"""Audit notes (createInventoryAuditLog): a person's note on a level, written to the ledger as
an AUDIT movement through the one write path.

A note changes no quantity: its ledger row records the level's quantities as they stand (before
and after alike), with the actor, the reason and the reference. The level's version and
updated time stay as they are, so a note never makes a client's expectedVersion stale, and no
INVENTORY_UPDATED event is published: nothing about the level changed. Notes are read with the
rest of the ledger (inventoryMovements, a level's movements), filterable by type AUDIT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.records import Level
from onhand.core.refs import Ref
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.ledger import ChangeContext, Movement, MovementType, apply_change
from onhand.inventory.refs import resolve_product, resolve_warehouse


@dataclass(frozen=True)
class AuditNote:
    product: Ref
    warehouse: Ref
    reason: str
    reference_id: str | None = None
    correlation_id: str | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Noted:
    level: Level
    movement_id: int


async def record_note(conn: AsyncConnection, request: AuditNote, context: ChangeContext) -> Noted:
    """Write the note on an existing level; an unknown product, warehouse or level is
    NOT_FOUND naming the field, and nothing is written."""
    errors = Collector()
    reason = check.text(errors, "reason", request.reason, max_length=500, required=True)
    reference_id = check.text(errors, "referenceId", request.reference_id, max_length=200)
    correlation_id = check.text(errors, "correlationId", request.correlation_id, max_length=200)
    occurred_at = check.timestamp(errors, "timestamp", request.occurred_at)
    claim = claim_for("createInventoryAuditLog", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return Noted(Level.from_json(replay["level"]), replay["movement_id"])
    product_id = await resolve_product(conn, request.product)
    warehouse_id = await resolve_warehouse(conn, request.warehouse)
    note = Movement(
        product_id,
        warehouse_id,
        MovementType.AUDIT,
        reason=reason,
        reference_id=reference_id,
        field=request.product.field,
    )
    change = ChangeContext(
        actor=context.actor,
        source=context.source,
        occurred_at=occurred_at or context.occurred_at,
        correlation_id=correlation_id or context.correlation_id,
    )
    try:
        [applied] = await apply_change(conn, [note], change)
    except DomainError as error:
        if any(problem.code == ErrorCode.NOT_FOUND for problem in error.problems):
            raise DomainError.of(
                ErrorCode.NOT_FOUND,
                "this product has no inventory level at this warehouse;"
                " create it with createInventoryLevel",
                request.product.field,
            ) from error
        raise
    assert applied.movement_id is not None  # a note is always written
    result = Noted(applied.level, applied.movement_id)
    await remember(
        conn, claim, {"level": result.level.to_json(), "movement_id": result.movement_id}
    )
    return result
