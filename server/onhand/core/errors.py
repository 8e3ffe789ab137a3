"""Typed domain errors. The API maps each to a `UserError { field message code }` in the payload;
nothing below the API knows about GraphQL."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    INVALID_ID = "INVALID_ID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    QUANTITY_OUT_OF_RANGE = "QUANTITY_OUT_OF_RANGE"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    OUT_OF_ORDER = "OUT_OF_ORDER"
    FORBIDDEN = "FORBIDDEN"
    # A feed cursor older than the events kept: the client takes a new snapshot.
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    # A sync acknowledgement ahead of what was handed out, or going backwards.
    INVALID_CURSOR = "INVALID_CURSOR"
    # Transfer orders: more received than shipped. (A transition a status does not allow is
    # INVALID_TRANSITION everywhere: reservations, transfer orders, count lines.)
    EXCEEDS_SHIPPED = "EXCEEDS_SHIPPED"
    # A TRANSFER hold of a transfer order: only shipping or cancelling the order ends it.
    TRANSFER_ORDER_HOLD = "TRANSFER_ORDER_HOLD"
    # Kits: a kit holds no stock of its own (its components do); a kit inside a kit; a product
    # with inventory levels made a kit; a component's hold ended alone instead of its kit's.
    KIT_HAS_NO_STOCK = "KIT_HAS_NO_STOCK"
    KIT_NESTED = "KIT_NESTED"
    KIT_HAS_STOCK = "KIT_HAS_STOCK"
    KIT_COMPONENT_HOLD = "KIT_COMPONENT_HOLD"
    # Click-and-collect: the warehouse named for pickup lacks the PICKUP capability.
    NOT_A_PICKUP_LOCATION = "NOT_A_PICKUP_LOCATION"
    # A cart or order would hold more of a product on a channel than its purchase limit.
    PURCHASE_LIMIT_EXCEEDED = "PURCHASE_LIMIT_EXCEEDED"
    # A product (or level) takes no preorders, or not this many more.
    PREORDERS_NOT_ACCEPTED = "PREORDERS_NOT_ACCEPTED"
    PREORDER_CAP_EXCEEDED = "PREORDER_CAP_EXCEEDED"
    # Query cost: the token's bucket does not hold the operation's cost now, or ever.
    THROTTLED = "THROTTLED"
    MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, named by the input field it concerns."""

    code: ErrorCode
    message: str
    field: str | None = None
    # Facts a client can act on without parsing the message.
    details: dict[str, Any] = dataclass_field(default_factory=dict)


class DomainError(Exception):
    """An expected failure: the change is refused and nothing is written."""

    def __init__(self, *problems: Problem) -> None:
        if not problems:
            raise ValueError("a DomainError needs at least one problem")
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in problems))

    @classmethod
    def of(
        cls, code: ErrorCode, message: str, field: str | None = None, **details: Any
    ) -> DomainError:
        return cls(Problem(code, message, field, details))


def not_found(what: str, field: str | None, key: object) -> DomainError:
    return DomainError.of(ErrorCode.NOT_FOUND, f"{what} {key} does not exist", field)


def invalid(field: str, message: str) -> DomainError:
    return DomainError.of(ErrorCode.INVALID, message, field)


class Collector:
    """Gathers every validation problem of an input before refusing it, so a client fixes
    them all in one round trip."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, code: ErrorCode, message: str, field: str | None = None, **details: Any) -> None:
        self.problems.append(Problem(code, message, field, details))

    def invalid(self, field: str, message: str) -> None:
        self.add(ErrorCode.INVALID, message, field)

    def raise_if_any(self) -> None:
        if self.problems:
            raise DomainError(*self.problems)
