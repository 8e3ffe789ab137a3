"""The one place domain errors become `UserError`s in mutation payloads."""

from __future__ import annotations

import strawberry

from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode, Problem

ErrorCodeEnum = strawberry.enum(
    ErrorCode, name="ErrorCode", description="Why a mutation refused its input."
)


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


def from_problem(problem: Problem) -> UserError:
    details = problem.details
    return UserError(
        field=problem.field,
        message=problem.message,
        code=problem.code,
        available=details.get("available"),
        requested=details.get("requested"),
        current_version=details.get("current_version"),
    )


def user_errors(error: DomainError) -> list[UserError]:
    return [from_problem(problem) for problem in error.problems]


def forbidden(permission: Permission) -> DomainError:
    return DomainError.of(
        ErrorCode.FORBIDDEN, f"this token's role may not do this (needs {permission})"
    )
