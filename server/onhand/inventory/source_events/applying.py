"""Applying one accepted source-system event: its movements through the ledger (the one write
path), in a savepoint, so that an event that fails changes nothing and the events after it
still apply.

A COUNT (a snapshot of on hand) corrects the level by its difference as of the moment it was
counted (counts/as_of.py), not by setting on hand: the sales and receipts recorded after that
moment stay (a nightly ERP snapshot never overwrites the day's sales)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, Problem
from onhand.inventory.counts.as_of import lock_levels_as_of
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    StockRule,
    apply_change,
)
from onhand.inventory.source_events.inputs import SourceEventType

# The ledger movement type of each event type (a TRANSFER is two legs: TRANSFER_OUT, _IN).
MOVEMENT_TYPES = {
    SourceEventType.RECEIPT: MovementType.RECEIPT,
    SourceEventType.PICK: MovementType.PICK,
    SourceEventType.SHIPMENT: MovementType.SHIPMENT,
    SourceEventType.RETURN: MovementType.RETURN,
    SourceEventType.COUNT: MovementType.CYCLE_COUNT,
    SourceEventType.ADJUSTMENT: MovementType.ADJUSTMENT,
    SourceEventType.TRANSFER: MovementType.TRANSFER_OUT,
    SourceEventType.DAMAGE: MovementType.DAMAGE,
}


@dataclass(frozen=True)
class Applied:
    movement_ids: list[int]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def movements(row: Any, source_code: str, on_hand_then: int = 0) -> list[Movement]:
    """The ledger movements of a stored source_events row; a COUNT's needs on hand as of its
    moment (`on_hand_then`)."""
    kind = SourceEventType(row.type)
    common: dict[str, Any] = {
        "reason": row.reason or f"{kind} from {source_code}",
        "reference_id": row.reference_document,
        "metadata": {
            "sourceSystem": source_code,
            "eventId": row.event_id,
            "sequence": row.sequence,
            "sourceEventId": row.id,
        },
    }
    if kind == SourceEventType.COUNT:
        # Counted stock must still cover what is held (reserved, committed, damaged).
        return [
            Movement(
                row.product_id,
                row.warehouse_id,
                MovementType.CYCLE_COUNT,
                Quantities(on_hand=row.quantity - on_hand_then),
                rule=StockRule.PHYSICAL,
                field="quantity",
                **common,
            )
        ]
    first = Movement(
        row.product_id,
        row.warehouse_id,
        MOVEMENT_TYPES[kind],
        Quantities(on_hand=row.quantity),
        field="quantityDelta",
        **common,
    )
    if kind != SourceEventType.TRANSFER:
        return [first]
    arrival = Movement(
        row.product_id,
        row.destination_warehouse_id,
        MovementType.TRANSFER_IN,
        Quantities(on_hand=-row.quantity),
        field="destinationWarehouseId",
        **common,
    )
    return [first, arrival]


async def apply_event(conn: AsyncConnection, row: Any, source_code: str) -> Applied:
    """Apply a stored event as the one who pushed it. A DomainError (not enough stock, say)
    rolls back the savepoint and is returned, not raised."""
    context = ChangeContext(
        actor=row.actor,
        source=MovementSource.EXTERNAL,
        occurred_at=row.occurred_at,
        correlation_id=row.correlation_id,
        # A receipt or transfer may be the first stock of a product at a warehouse.
        create_missing_levels=True,
    )
    savepoint = await conn.begin_nested()
    try:
        on_hand_then = 0
        channels_locked = None  # apply_change locks them before the levels
        if row.type == SourceEventType.COUNT:
            # Locked until commit: nothing moves between this reading and the correction.
            levels, channels_locked = await lock_levels_as_of(
                conn, row.warehouse_id, [row.product_id], row.occurred_at
            )
            level = levels.get(row.product_id)
            on_hand_then = level.on_hand_then if level else 0
        done = await apply_change(
            conn, movements(row, source_code, on_hand_then), context, channels_locked
        )
    except DomainError as error:
        await savepoint.rollback()
        return Applied([], error.problems)
    await savepoint.commit()
    return Applied([m.movement_id for m in done if m.movement_id is not None], [])
