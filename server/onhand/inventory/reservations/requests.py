"""What reservation requests carry, what they come back with, and the plain records passed
between the steps of making reservations (see reserving.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from onhand.core.errors import ErrorCode, Problem
from onhand.core.refs import Ref
from onhand.inventory.channels.registry import Channel, ChannelRef
from onhand.inventory.reservations.model import Reservation, ReservationType
from onhand.inventory.routing.planning import Destination

MAX_TEXT = 200


@dataclass(frozen=True)
class ReserveLine:
    product: Ref | None
    quantity: int
    variant_id: str | None = None
    warehouse: Ref | None = None
    # Prefix of this line's input fields in errors: "" for createReservation, "lines.2."
    prefix: str = ""


@dataclass(frozen=True)
class ReserveRequest:
    lines: tuple[ReserveLine, ...]
    type: ReservationType = ReservationType.CART
    reference_id: str | None = None
    channel: ChannelRef | None = None
    expires_at: datetime | None = None
    allow_partial: bool = False
    destination: Destination | None = None
    idempotency_key: str | None = None
    operation: str = "createReservation"
    # Click-and-collect: every line held at this pickup location only (see pickup.py).
    pickup_location: Ref | None = None


@dataclass(frozen=True)
class Terms:
    """What configuration decides: default lifetimes, limits, how busy warehouses are."""

    cart_ttl: timedelta = timedelta(minutes=30)
    transfer_ttl: timedelta = timedelta(hours=24)
    max_lines: int = 100
    utilization: Mapping[tuple[int, float], float] = field(default_factory=dict)
    # The furthest a client may set expiresAt: a forgotten cart must not hold stock for years.
    longest_cart: timedelta = timedelta(days=7)
    longest_transfer: timedelta = timedelta(days=90)

    def longest_hold(self, kind: ReservationType) -> timedelta:
        return self.longest_transfer if kind == ReservationType.TRANSFER else self.longest_cart


@dataclass(frozen=True)
class LineFailure:
    """A line not reserved (partial carts): what was asked and what could be had."""

    line: int
    field: str
    product_id: int
    requested: int
    available: int
    message: str

    def problem(self) -> Problem:
        return Problem(
            ErrorCode.INSUFFICIENT_STOCK,
            self.message,
            self.field,
            {
                "available": self.available,
                "requested": self.requested,
                "product_id": self.product_id,
            },
        )


@dataclass(frozen=True)
class Reserved:
    reservations: list[Reservation]
    failures: list[LineFailure]

    def to_json(self) -> dict[str, Any]:
        return {
            "reservations": [r.to_json() for r in self.reservations],
            "failures": [vars(f) for f in self.failures],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reserved:
        return cls(
            [Reservation.from_json(r) for r in data["reservations"]],
            [LineFailure(**f) for f in data["failures"]],
        )


@dataclass
class Resolved:
    index: int
    request: ReserveRequest
    channel: Channel | None
    reference_id: str | None
    # Per line: product id, warehouse id (explicit) or None.
    products: list[int]
    warehouses: list[int | None]


@dataclass(frozen=True)
class Hold:
    request: int
    line: int
    product_id: int
    warehouse_id: int
    channel_id: int | None
    quantity: int
