"""Channel-bound callers: a CONNECTOR token sees and changes only its own channel."""

from __future__ import annotations

from graphql import GraphQLError

from onhand.api import ids
from onhand.api.context import Context, Info
from onhand.auth.roles import Permission, Role
from onhand.inventory.errors import DomainError, ErrorCode
from onhand.inventory.refs import Ref

OWN_CHANNEL_ONLY = "this token may only use its own channel"


def scope(context: Context) -> int | None:
    """The one channel the caller is bound to, or None for callers that may use any."""
    principal = context.principal
    if principal is not None and principal.role == Role.CONNECTOR:
        return principal.channel_id
    return None


def check_readable(info: Info, channel_id: int) -> None:
    """For queries: FORBIDDEN as a GraphQL error."""
    bound = scope(info.context)
    if bound is not None and bound != channel_id:
        raise GraphQLError(OWN_CHANNEL_ONLY, extensions={"code": "FORBIDDEN"})


def syncs_for(context: Context, channel_id: int) -> bool:
    """Whether the caller's feed reads and acknowledgements count as the channel's sync: its
    own connector's do, and an admin's (an integration run with an admin token); anyone else
    who may read the feed only looks, so cannot hide a stalled connector."""
    principal = context.principal
    if principal is None:
        return False
    if principal.role == Role.CONNECTOR:
        return principal.channel_id == channel_id
    return principal.can(Permission.MANAGE_CHANNELS)


def check_usable(context: Context, channel_id: int | None, field: str = "channelId") -> None:
    """For mutations: FORBIDDEN as a UserError."""
    bound = scope(context)
    if bound is not None and bound != channel_id:
        raise DomainError.of(ErrorCode.FORBIDDEN, OWN_CHANNEL_ONLY, field)


def channel_ref(
    channel_id: str | None,
    code: str | None,
    id_field: str = "channelId",
    code_field: str = "channelCode",
) -> Ref | None:
    """A channel named by global id or code; None when neither is given."""
    if channel_id is not None and code is not None:
        raise DomainError.of(
            ErrorCode.INVALID, f"give either {id_field} or {code_field}, not both", id_field
        )
    if channel_id is not None:
        return Ref(id=ids.decode(channel_id, "Channel", id_field), field=id_field)
    if code is not None:
        return Ref(key=code, field=code_field)
    return None


def required_channel_ref(context: Context, channel_id: str | None, code: str | None) -> Ref:
    """The channel a call names, or the caller's own channel when it names none."""
    ref = channel_ref(channel_id, code)
    if ref is not None:
        return ref
    bound = scope(context)
    if bound is not None:
        return Ref(id=bound, field="channelId")
    raise DomainError.of(ErrorCode.REQUIRED, "give channelId or channelCode", "channelId")
