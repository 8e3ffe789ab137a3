"""`onhand token create | revoke | list`."""

from __future__ import annotations

import argparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token, revoke_token
from onhand.core.errors import DomainError
from onhand.db.tables import api_tokens
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from onhand.runtime import migrated_engine


async def run(args: argparse.Namespace, database_url: str) -> int:
    try:
        async with migrated_engine(database_url) as engine, engine.begin() as conn:
            if args.action == "create":
                channel_id = await _channel_id(conn, args.channel) if args.channel else None
                issued = await create_token(conn, args.name, Role(args.role), channel_id)
                print(issued.secret)
            elif args.action == "revoke":
                if not await revoke_token(conn, args.name):
                    print(f"no active token named {args.name!r}")
                    return 1
                print(f"revoked {args.name!r}")
            else:
                rows = await conn.execute(select(api_tokens).order_by(api_tokens.c.id))
                for row in rows:
                    state = "revoked" if row.revoked_at else "active"
                    print(f"{row.name}\t{row.role}\t{row.token_prefix}...\t{state}")
    except DomainError as error:
        print(f"error: {error}")
        return 2
    return 0


async def _channel_id(conn: AsyncConnection, code: str) -> int:
    """The channel a CONNECTOR (or STOREFRONT) token is bound to, by its code."""
    return (await resolve_channel(conn, ChannelRef(key=code, field="channel"))).id
