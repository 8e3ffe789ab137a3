"""Per server process: hearing of revoked and rotated tokens (auth/changes.py), and writing
now and then when each token was last used (auth/authenticator.py). Both are the process's
own business, so they run in every server process whether or not the background workers do."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from onhand.auth.authenticator import Authenticator
from onhand.auth.changes import listen_for_changes
from onhand.services import Services
from onhand.workers.supervisor import Healthy, LoopBody

log = logging.getLogger(__name__)
# How long a start waits to be listening before it serves: a token revoked right after the
# start must not be missed. Not an error if it takes longer: the supervisor keeps trying.
LISTENING_WAIT_SECONDS = 10.0


async def record_uses_every(authenticator: Authenticator, seconds: float, healthy: Healthy) -> None:
    while True:
        healthy()
        await asyncio.sleep(seconds)
        await authenticator.record_uses()


@contextlib.asynccontextmanager
async def token_upkeep(services: Services) -> AsyncIterator[None]:
    authenticator = services.authenticator
    listening = asyncio.Event()
    loops: dict[str, LoopBody] = {
        "token-changes": functools.partial(
            listen_for_changes, authenticator, services.database_url, listening=listening
        ),
        "token-usage": functools.partial(
            record_uses_every, authenticator, services.settings.token_last_used_seconds
        ),
    }
    try:
        async with services.supervisor.supervise(loops):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(listening.wait(), LISTENING_WAIT_SECONDS)
            yield
    finally:
        # The uses since the last write would go with the process.
        try:
            await authenticator.record_uses()
        except Exception:
            log.warning("could not record when tokens were last used", exc_info=True)
