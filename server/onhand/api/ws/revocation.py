"""Closing the WebSockets of revoked and expired tokens.

A socket authenticates once, at its start; a subscription may then stream for days. Each
subscribe message checks the token again (connection.py); this closes the sockets that send
nothing. It looks up each token with open sockets through the same cache as every request:
at once when the authenticator forgets a token (revoked or rotated, in any process: see
auth/changes.py), and once a second anyway (an expiry, or a rotation's overlap ending, needs
no news: the cached entry knows when its secret stops). The watch costs the database at most
one lookup per token and cache period, and one per revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from onhand.auth.authenticator import Authenticator

if TYPE_CHECKING:
    from onhand.api.ws.connection import Connection

log = logging.getLogger(__name__)
CHECK_SECONDS = 1.0


class RevocationWatch:
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator
        self._connections: set[Connection] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        authenticator.on_forget(self._wake.set)

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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECK_SECONDS)
            self._wake.clear()
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
