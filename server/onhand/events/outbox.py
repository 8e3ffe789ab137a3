"""Appending events to the outbox, in the transaction of the change that caused them.

The ledger writes INVENTORY_UPDATED for every movement itself; domain operations add their
own events (a transfer, a reservation changing state, ...) with `append`. Nothing is published
here: the relay publishes committed events, in order, after commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


class Topic(StrEnum):
    INVENTORY_UPDATED = "INVENTORY_UPDATED"
    INVENTORY_TRANSFERRED = "INVENTORY_TRANSFERRED"
    RESERVATION_CHANGED = "RESERVATION_CHANGED"
    # A channel's allocation or buffer of a product was set (payload: channelId, productId,
    # allocated, buffer, version, reason).
    CHANNEL_ALLOCATION_CHANGED = "CHANNEL_ALLOCATION_CHANGED"
    # A channel went two sync intervals without a pull or an accepted push / synced again.
    SYNC_STALLED = "SYNC_STALLED"
    SYNC_RESUMED = "SYNC_RESUMED"
    # A push-mode batch of availability changes for one batch channel.
    CHANNEL_SYNC_BATCH = "CHANNEL_SYNC_BATCH"
    SOURCE_EVENT_RECORDED = "SOURCE_EVENT_RECORDED"
    TRANSFER_ORDER_CHANGED = "TRANSFER_ORDER_CHANGED"
    # Received quantity differs from shipped on a transfer order line.
    TRANSFER_DISCREPANCY = "TRANSFER_DISCREPANCY"
    ALERT_RAISED = "ALERT_RAISED"
    ALERT_RESOLVED = "ALERT_RESOLVED"
    RECONCILIATION_COMPLETED = "RECONCILIATION_COMPLETED"
    # A reconciliation run repaired a level (payload: runId, levelId, productId, warehouseId,
    # movementIds, repairs: kind, bucket, recorded, expected, delta, reason).
    RECONCILIATION_REPAIRED = "RECONCILIATION_REPAIRED"
    # A channel's demand-driven buffers were recomputed (payload: channelId, trigger,
    # productCount, changedCount).
    DEMAND_BUFFERS_RECOMPUTED = "DEMAND_BUFFERS_RECOMPUTED"
    # What a kit may sell changed: one of its components' stock or holds changed at a
    # warehouse (or on a channel), or its components were set (payload: kitId, cause
    # COMPONENT or DEFINED, componentId, warehouseId, channelId).
    KIT_AVAILABILITY_CHANGED = "KIT_AVAILABILITY_CHANGED"
    # An order or cart was reserved only in part: one event per line short (payload:
    # reservationType, referenceId, productId, warehouseId, channelId, requested, reserved,
    # missing, available, reason).
    SHORTFALL = "SHORTFALL"
    # A preorder was placed, released, or converted to an ORDER reservation when stock was
    # received (payload: kind, preorderId, productId, warehouseId, channelId, quantity,
    # referenceId, reservationId).
    PREORDER_CHANGED = "PREORDER_CHANGED"


@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    payload: dict[str, Any]
    product_id: int | None = None
    warehouse_id: int | None = None
    channel_id: int | None = None


def insert_events(rows: str) -> str:
    """SQL writing events to the outbox: `rows` is a SELECT giving, in this order, topic,
    product_id, warehouse_id, channel_id and payload (json: json_build_object is the cheaper
    builder; jsonb is cast). Set-based changes embed it in their own statement (the ledger,
    reservations), so that their events cost no round trip of their own; `append` writes
    events built in Python through it."""
    return f"INSERT INTO outbox (topic, product_id, warehouse_id, channel_id, payload)\n{rows}"


_APPEND = text(
    insert_events(
        """SELECT * FROM unnest(CAST(:topic AS text[]), CAST(:product_id AS bigint[]),
        CAST(:warehouse_id AS bigint[]), CAST(:channel_id AS bigint[]),
        CAST(:payload AS json[]))"""
    )
)


async def append(conn: AsyncConnection, events: Sequence[Event]) -> None:
    if not events:
        return
    await conn.execute(
        _APPEND,
        {
            "topic": [str(e.topic) for e in events],
            "payload": [json.dumps(e.payload, default=str) for e in events],
            "product_id": [e.product_id for e in events],
            "warehouse_id": [e.warehouse_id for e in events],
            "channel_id": [e.channel_id for e in events],
        },
    )
