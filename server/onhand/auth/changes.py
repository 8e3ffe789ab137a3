"""Hearing, in every process, that a token was revoked or rotated elsewhere.

revoke_token and rotate_token NOTIFY the token's id on CHANGES_CHANNEL in their own
transaction, so PostgreSQL delivers it at commit to every listening connection: each server
process keeps one, and drops its cached lookups of that token at once (its open WebSockets
are then checked too). The channel is the database's own, not the broadcast's: it reaches
every process whatever ONHAND_BROADCAST_URL says, and a revocation needs no Redis to work.

While the connection is down news may be missed, so each (re)connection starts by forgetting
the whole cache; in between, the cache's own ttl still bounds how long a revoked token works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from onhand.auth.authenticator import Authenticator
from onhand.auth.tokens import CHANGES_CHANNEL
from onhand.db.engine import plain_url

log = logging.getLogger(__name__)
# How often an idle listening connection is checked: a connection that died quietly (a
# network cut, no FIN) would otherwise look alive for ever.
PING_SECONDS = 5.0


async def listen_for_changes(
    authenticator: Authenticator,
    database_url: str,
    healthy: Callable[[], None],
    listening: asyncio.Event | None = None,
) -> None:
    """Forget revoked and rotated tokens as their news arrives, until cancelled; ends with
    an error when the connection is lost (the supervisor runs it again)."""
    conn: Any = await asyncpg.connect(plain_url(database_url))
    lost = asyncio.Event()

    def notified(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            token_id = int(payload)
        except ValueError:  # not ours: forget everything rather than miss something
            authenticator.forget_all()
            return
        authenticator.forget(token_id)

    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANGES_CHANNEL, notified)
        authenticator.forget_all()
        if listening is not None:
            listening.set()
        while True:
            healthy()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PING_SECONDS)
            if lost.is_set():
                raise ConnectionError("lost the connection listening for token changes")
            await asyncio.wait_for(conn.execute("SELECT 1"), PING_SECONDS)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), PING_SECONDS)
