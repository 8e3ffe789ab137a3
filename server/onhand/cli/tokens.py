"""`onhand token create | rotate | revoke | list`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.auth.listing import TokenSummary, list_tokens
from onhand.auth.roles import Role
from onhand.auth.tokens import create_token, revoke_token, rotate_token
from onhand.core.errors import DomainError
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from onhand.runtime import migrated_engine

COLUMNS = ("NAME", "ROLE", "SECRET", "EXPIRES", "LAST USED", "STATE")


async def run(args: argparse.Namespace, database_url: str) -> int:
    try:
        async with migrated_engine(database_url) as engine, engine.begin() as conn:
            if args.action == "create":
                channel_id = await _channel_id(conn, args.channel) if args.channel else None
                issued = await create_token(
                    conn,
                    args.name,
                    Role(args.role),
                    channel_id,
                    args.expires_in,
                    getattr(args, "source_system", None),
                )
                # The secret alone on stdout, so that scripts can capture it.
                print(issued.secret)
                if issued.expires_at is not None:
                    print(f"expires {moment(issued.expires_at)}", file=sys.stderr)
            elif args.action == "rotate":
                rotated = await rotate_token(conn, args.name, args.overlap, args.expires_in)
                if rotated is None:
                    print(f"no active token named {args.name!r}")
                    return 1
                print(rotated.issued.secret)
                until = rotated.previous_expires_at
                print(
                    f"the previous secret of {args.name!r} "
                    + (f"works until {moment(until)}" if until else "no longer works"),
                    file=sys.stderr,
                )
            elif args.action == "revoke":
                if not await revoke_token(conn, args.name):
                    print(f"no active token named {args.name!r}")
                    return 1
                print(f"revoked {args.name!r}")
            else:
                print("\t".join(COLUMNS))
                for token in await list_tokens(conn):
                    print("\t".join(_row(token)))
    except DomainError as error:
        print(f"error: {error}")
        return 2
    return 0


def moment(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(token: TokenSummary) -> list[str]:
    state = token.state
    if state == "active" and token.previous_until is not None:
        state += (
            f"; previous secret {token.previous_prefix}... until {moment(token.previous_until)}"
        )
    return [
        token.name,
        token.role,
        f"{token.prefix}...",
        moment(token.expires_at) if token.expires_at else "never",
        moment(token.last_used_at) if token.last_used_at else "never",
        state,
    ]


async def _channel_id(conn: AsyncConnection, code: str) -> int:
    """The channel a CONNECTOR (or STOREFRONT) token is bound to, by its code."""
    return (await resolve_channel(conn, ChannelRef(key=code, field="channel"))).id
