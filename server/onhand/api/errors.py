"""The one place domain errors become `UserError`s in mutation payloads."""

from __future__ import annotations

import strawberry

from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode, Problem

# What each code means, as the schema documents it (the codes live in the domain, which knows
# nothing of GraphQL; their descriptions are the API's).
MEANINGS = {
    ErrorCode.INVALID: "A value is not acceptable (the message says why and what is).",
    ErrorCode.INVALID_ID: "An id is malformed or names another type of object.",
    ErrorCode.REQUIRED: "A value is missing, or neither of two ways to name something is given.",
    ErrorCode.NOT_FOUND: "Nothing has this id, code or SKU.",
    ErrorCode.ALREADY_EXISTS: "Something with this code, SKU or pair exists already.",
    ErrorCode.INSUFFICIENT_STOCK: "Not enough available (see `available` and `requested`).",
    ErrorCode.VERSION_CONFLICT: "The object changed since it was read (see `currentVersion`).",
    ErrorCode.IDEMPOTENCY_KEY_REUSED: "This idempotency key was used for a different request.",
    ErrorCode.QUANTITY_OUT_OF_RANGE: "A quantity is negative, zero or too large here.",
    ErrorCode.INVALID_TRANSITION: "The object's status does not allow this step "
    "(a released reservation, a received transfer order, a reviewed count line).",
    ErrorCode.OUT_OF_ORDER: "A source system's event came before the ones it follows.",
    ErrorCode.FORBIDDEN: "This token's role, or its channel, may not do this.",
    ErrorCode.CURSOR_EXPIRED: "Events after this cursor are no longer kept: take a snapshot.",
    ErrorCode.INVALID_CURSOR: "A cursor this feed never handed out, or one going backwards.",
    ErrorCode.EXCEEDS_SHIPPED: "More received on a transfer order line than was shipped.",
    ErrorCode.TRANSFER_ORDER_HOLD: "A transfer order's hold: ship or cancel the order instead.",
    ErrorCode.KIT_HAS_NO_STOCK: "The product is a kit: it holds no stock of its own; change "
    "its components' stock instead.",
    ErrorCode.KIT_NESTED: "A kit cannot contain a kit, nor be a component of one.",
    ErrorCode.KIT_HAS_STOCK: "The product has inventory levels: a kit holds no stock of its own.",
    ErrorCode.KIT_COMPONENT_HOLD: "One component's hold of a kit reservation: change the kit's "
    "reservation (its `kitReservationId`) instead.",
    ErrorCode.NOT_A_PICKUP_LOCATION: "The warehouse named for pickup is not a pickup location "
    "(its capabilities lack PICKUP): pickupAvailability lists those that are.",
    ErrorCode.PURCHASE_LIMIT_EXCEEDED: "The cart or order would hold more of this product on "
    "this channel than its purchase limit (see `limit`, `alreadyReserved` and `requested`).",
    ErrorCode.PREORDERS_NOT_ACCEPTED: "This product, or this level, has no preorder cap: it "
    "takes no preorders.",
    ErrorCode.PREORDER_CAP_EXCEEDED: "The preorder would pass the cap (see `limit`, and "
    "`available`: what is left of it).",
    ErrorCode.THROTTLED: "This token's query cost bucket holds less than the operation costs: "
    "retry after `retryAfterSeconds` (HTTP 429 with Retry-After). Nothing was run.",
    ErrorCode.MAX_COST_EXCEEDED: "The operation costs more than this token's bucket can ever "
    "hold (`maximumCost`): ask for smaller pages or fewer fields. Nothing was run.",
}

ErrorCodeEnum = strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description="Why a request was refused: a mutation's `UserError.code`, and the `code` "
    "extension of a query's error about its data.",
)
# strawberry.enum_value would need strawberry in the domain's enum: the descriptions are set
# on strawberry's definition of it instead (a KeyError here: a new code has no meaning yet).
for _value in getattr(ErrorCodeEnum, "__strawberry_definition__").values:  # noqa: B009
    _value.description = MEANINGS[ErrorCode(_value.value)]


@strawberry.type(description="An expected failure, named by the input field it concerns.")
class UserError:
    field: str | None = strawberry.field(
        description="The input field at fault, as a dotted path (`lines.2.quantity`)."
    )
    message: str
    code: ErrorCode
    available: int | None = strawberry.field(
        default=None, description="INSUFFICIENT_STOCK: how many units were available."
    )
    requested: int | None = strawberry.field(
        default=None, description="INSUFFICIENT_STOCK: how many units were asked for."
    )
    current_version: int | None = strawberry.field(
        default=None, description="VERSION_CONFLICT: the version the object is at now."
    )
    limit: int | None = strawberry.field(
        default=None,
        description="PURCHASE_LIMIT_EXCEEDED: the most one cart or order may hold; "
        "PREORDER_CAP_EXCEEDED: the preorder cap.",
    )
    already_reserved: int | None = strawberry.field(
        default=None,
        description="PURCHASE_LIMIT_EXCEEDED: what the cart or order holds already.",
    )


def from_problem(problem: Problem) -> UserError:
    details = problem.details
    return UserError(
        field=problem.field,
        message=problem.message,
        code=problem.code,
        available=details.get("available"),
        requested=details.get("requested"),
        current_version=details.get("current_version"),
        limit=details.get("limit"),
        already_reserved=details.get("already_reserved"),
    )


def user_errors(error: DomainError) -> list[UserError]:
    return [from_problem(problem) for problem in error.problems]


def forbidden(permission: Permission) -> DomainError:
    return DomainError.of(
        ErrorCode.FORBIDDEN, f"this token's role may not do this (needs {permission})"
    )
