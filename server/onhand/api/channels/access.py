"""Channel-bound callers: a token bound to a channel (every CONNECTOR, a STOREFRONT made with
`--channel`) sees and changes only its own channel.

Every channel an operation's input names becomes a `ChannelRef` here, carrying the caller's
binding, and `inventory.channels.find_channel` refuses any other channel when it resolves it:
build channel references with these functions only, and no operation can skip the check.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLError

from onhand.api import ids
from onhand.api.context import Context, Info
from onhand.api.inputs import NOTHING
from onhand.auth.roles import Permission, Role
from onhand.core.errors import DomainError, ErrorCode
from onhand.inventory.channels.registry import OWN_CHANNEL_ONLY, ChannelRef, resolve_channel
from onhand.inventory.reservations.endings import HoldAccess


def scope(context: Context) -> int | None:
    """The one channel the caller is bound to, or None for callers that may use any."""
    principal = context.principal
    return principal.channel_id if principal is not None else None


def check_readable(info: Info, channel_id: int) -> None:
    """For a channel reached through another object (a node, a reservation): FORBIDDEN as a
    GraphQL error unless it is the caller's own."""
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


def hold_access(context: Context) -> HoldAccess:
    """Whose holds the caller may release, extend, convert or fulfil: a bound token its own
    channel's; an unbound storefront those of live (REALTIME) channels and of no channel, not a
    marketplace connector's; operators and admins any."""
    principal = context.principal
    if principal is not None and principal.channel_id is not None:
        return HoldAccess(channel_id=principal.channel_id)
    if principal is not None and principal.role == Role.STOREFRONT:
        return HoldAccess(realtime_only=True)
    return HoldAccess()


def channel_ref(
    context: Context,
    channel_id: str | None,
    code: str | None,
    id_field: str = "channelId",
    code_field: str = "channelCode",
) -> ChannelRef | None:
    """A channel named by global id or code; None when neither is given."""
    if channel_id is not None and code is not None:
        raise DomainError.of(
            ErrorCode.INVALID, f"give either {id_field} or {code_field}, not both", id_field
        )
    only = scope(context)
    if channel_id is not None:
        decoded = ids.decode(channel_id, "Channel", id_field)
        return ChannelRef(id=decoded, field=id_field, only=only)
    if code is not None:
        return ChannelRef(key=code, field=code_field, only=only)
    return None


def named_channel(context: Context, channel_id: str | None, code: str | None) -> ChannelRef:
    """The channel an update names, by `id` or `channelCode` (exactly one)."""
    ref = channel_ref(context, channel_id, code, id_field="id")
    if ref is None:
        raise DomainError.of(ErrorCode.REQUIRED, "give id or channelCode", "id")
    return ref


def channel_or_own(context: Context, channel_id: str | None, code: str | None) -> ChannelRef | None:
    """The channel a call names, else the caller's own (None for an unbound caller)."""
    ref = channel_ref(context, channel_id, code)
    bound = scope(context)
    if ref is None and bound is not None:
        return ChannelRef(id=bound, field="channelId", only=bound)
    return ref


def required_channel_ref(context: Context, channel_id: str | None, code: str | None) -> ChannelRef:
    """The channel a call names, or the caller's own channel when it names none."""
    ref = channel_or_own(context, channel_id, code)
    if ref is None:
        raise DomainError.of(ErrorCode.REQUIRED, "give channelId or channelCode", "channelId")
    return ref


def channel_refs(
    context: Context, channel_ids: Sequence[str] | None, codes: Sequence[str] | None
) -> list[ChannelRef]:
    """Channels named in lists of ids and codes."""
    by_id = [
        channel_ref(context, c, None, id_field=f"channelIds.{i}")
        for i, c in enumerate(channel_ids or [])
    ]
    by_code = [
        channel_ref(context, None, c, code_field=f"channelCodes.{i}")
        for i, c in enumerate(codes or [])
    ]
    return [ref for ref in (*by_id, *by_code) if ref is not None]


async def channel_filter_id(context: Context, ref: ChannelRef | None) -> int | None:
    """The id of the channel a list filter names (None: no filter); NOTHING for one that does
    not exist, so that the list comes back empty. Another channel than a bound caller's own
    is FORBIDDEN."""
    if ref is None:
        return None
    async with context.services.engine.connect() as conn:
        try:
            return (await resolve_channel(conn, ref)).id
        except DomainError as error:
            if any(p.code != ErrorCode.NOT_FOUND for p in error.problems):
                raise
            return NOTHING
