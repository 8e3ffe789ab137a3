"""Permission checks: queries refuse with a FORBIDDEN GraphQL error, mutations answer with a
FORBIDDEN UserError in their payload (see `mutate`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, TypeVar

from graphql import GraphQLError
from strawberry.permission import BasePermission

from onhand.api import request_log
from onhand.api.context import Context, Info
from onhand.api.errors import user_errors
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError

P = TypeVar("P")


class _Requires(BasePermission):
    permission: Permission
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.can(self.permission)


@cache
def requires(permission: Permission) -> type[BasePermission]:
    """A strawberry permission class for one permission (one class per permission)."""
    return type(
        f"Requires{permission.title().replace('_', '')}",
        (_Requires,),
        {"permission": permission, "message": f"this token's role may not do this ({permission})"},
    )


def check(info: Info, permission: Permission) -> None:
    """For resolvers that are not fields of their own (node resolution): raise FORBIDDEN."""
    principal = info.context.principal
    if principal is None or not principal.can(permission):
        raise GraphQLError(
            f"this token's role may not do this ({permission})", extensions={"code": "FORBIDDEN"}
        )


async def mutate(
    info: Info,
    permission: Permission,
    payload: Callable[..., P],
    work: Callable[[Context], Awaitable[P]],
) -> P:
    """Run a mutation: check the permission, do the work, turn domain errors into the
    payload's `errors`. Anything else is an outage and surfaces as a GraphQL error."""
    try:
        info.context.require(permission)
        return await work(info.context)
    except DomainError as error:
        request_log.note_codes([str(problem.code) for problem in error.problems])
        return payload(errors=user_errors(error))
