"""The records of preorders and preorder caps, and the PREORDER_CHANGED event each change
writes to the outbox."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from onhand.events.outbox import insert_events


class PreorderStatus(StrEnum):
    ACTIVE = "ACTIVE"  # waiting for stock, counted against its cap
    CONVERTED = "CONVERTED"  # stock came: it is an ORDER reservation now
    RELEASED = "RELEASED"  # cancelled before stock came


class PreorderChangeKind(StrEnum):
    CREATED = "CREATED"
    RELEASED = "RELEASED"
    CONVERTED = "CONVERTED"


@dataclass(frozen=True, slots=True)
class Preorder:
    id: int
    product_id: int
    warehouse_id: int | None
    channel_id: int | None
    quantity: int
    reference_id: str | None
    status: PreorderStatus
    reservation_id: int | None
    actor: str
    version: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Preorder:
        m = row._mapping if hasattr(row, "_mapping") else row
        values = {f.name: m[f.name] for f in fields(cls)}
        values["status"] = PreorderStatus(values["status"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """For idempotency records: a replay answers with the preorder as first made."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("created_at", "updated_at", "ended_at"):
            data[name] = data[name].isoformat() if data[name] else None
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preorder:
        values = dict(data)
        for name in ("created_at", "updated_at", "ended_at"):
            values[name] = datetime.fromisoformat(values[name]) if values[name] else None
        return cls.from_row(values)


@dataclass(frozen=True, slots=True)
class PreorderCap:
    """A cap and what is left of it: `preordered` is the sum of its active preorders."""

    id: int
    product_id: int
    warehouse_id: int | None
    cap: int
    preordered: int
    version: int
    updated_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.cap - self.preordered)

    @classmethod
    def from_row(cls, row: Any) -> PreorderCap:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(**{f.name: m[f.name] for f in fields(cls)})


def event_insert(alias: str, kind: PreorderChangeKind, source: str) -> str:
    """An INSERT of one PREORDER_CHANGED event per preorder row of `source` (a CTE name)."""
    a = alias
    return insert_events(
        f"""SELECT 'PREORDER_CHANGED', {a}.product_id, {a}.warehouse_id, {a}.channel_id,
            json_build_object('kind', CAST('{kind}' AS text), 'preorderId', {a}.id,
                'status', {a}.status, 'productId', {a}.product_id,
                'warehouseId', {a}.warehouse_id, 'channelId', {a}.channel_id,
                'quantity', {a}.quantity, 'referenceId', {a}.reference_id,
                'reservationId', {a}.reservation_id, 'actor', CAST(:actor AS text),
                'version', {a}.version, 'occurredAt', now())
        FROM {source} {a} ORDER BY {a}.id"""
    )
