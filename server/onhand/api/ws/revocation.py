"""Closing the WebSockets of revoked tokens.

A socket authenticates once, at its start; a subscription may then stream for days. Each
subscribe message checks the token again (connection.py); this closes the sockets that send
nothing. Once a second it looks up each token with open sockets, through the same cache as
every request, so a revoked token's sockets close within TOKEN_CACHE_SECONDS and a second,
and the watch costs the database at most one lookup per token and cache period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from onhand.auth.tokens import Authenticator

if TYPE_CHECKING:
    from onhand.api.ws.connection import Connection

log = logging.getLogger(__name__)
CHECK_SECONDS = 1.0


class RevocationWatch:
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator
        self._connections: set[Connection] = set()
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def watching(self, connection: Connection) -> AsyncIterator[None]:
        """Watch `connection` while the block runs (it has no token until connection_init)."""
        self._connections.add(connection)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="onhand-ws-revocation")
        try:
            yield
        finally:
            self._connections.discard(connection)
            if not self._connections and self._task is not None:
                # Nothing to watch: stop until the next socket.
                self._task.cancel()
                self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check()
            except Exception:  # the database is away: keep the sockets, try again later
                log.warning("could not check the tokens of open sockets", exc_info=True)

    async def check(self) -> None:
        by_credential: dict[str, list[Connection]] = {}
        for connection in self._connections:
            if connection.credential is not None and not connection.closed:
                by_credential.setdefault(connection.credential, []).append(connection)
        for credential, connections in by_credential.items():
            if await self._authenticator.authenticate(credential) is None:
                for connection in connections:
                    await connection.close_revoked()
