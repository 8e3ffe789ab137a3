"""Plain records the domain functions return, built from table rows."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self


class FromRow:
    @classmethod
    def from_row(cls, row: Any) -> Self:
        mapping = row._mapping if hasattr(row, "_mapping") else row
        return cls(**{f.name: mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]  # a row holds each field


@dataclass(frozen=True, slots=True)
class Warehouse(FromRow):
    id: int
    code: str
    name: str
    street: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    latitude: float | None
    longitude: float | None
    timezone: str
    is_active: bool
    priority: int
    capabilities: list[str]
    allow_backorders: bool
    version: int
    created_at: datetime
    updated_at: datetime
    pickup_instructions: str | None
    pickup_hours: str | None
    transfer_lead_hours: int | None

    @property
    def is_pickup_location(self) -> bool:
        """Customers may collect here: the warehouse has the PICKUP capability."""
        return "PICKUP" in self.capabilities


@dataclass(frozen=True, slots=True)
class Product(FromRow):
    id: int
    sku: str
    name: str
    external_product_id: str | None
    external_variant_id: str | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Level(FromRow):
    id: int
    product_id: int
    warehouse_id: int
    on_hand: int
    reserved: int
    committed: int
    incoming: int
    damaged: int
    quarantined: int
    safety_stock: int
    reorder_point: int
    reorder_quantity: int
    available: int
    version: int
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """For idempotency records: a replay answers with the level as the first call left it."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Level:
        return cls(
            **{
                **data,
                "created_at": datetime.fromisoformat(data["created_at"]),
                "updated_at": datetime.fromisoformat(data["updated_at"]),
            }
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry(FromRow):
    """One row of the ledger."""

    id: int
    change_id: int
    level_id: int
    product_id: int
    warehouse_id: int
    type: str
    reason: str | None
    source: str
    actor: str
    reference_id: str | None
    correlation_id: str | None
    channel_id: int | None
    reservation_id: int | None
    occurred_at: datetime
    recorded_at: datetime
    d_on_hand: int
    d_reserved: int
    d_committed: int
    d_incoming: int
    d_damaged: int
    d_quarantined: int
    d_safety_stock: int
    on_hand: int
    reserved: int
    committed: int
    incoming: int
    damaged: int
    quarantined: int
    safety_stock: int
    metadata: dict[str, Any] | None
