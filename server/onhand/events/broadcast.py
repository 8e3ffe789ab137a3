"""The pub/sub connection events travel on, built with broadcaster from the configured URL."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

from broadcaster import Broadcast
from broadcaster._backends.redis import RedisBackend
from broadcaster._base import Event
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# Between attempts to reach Redis again: from the first, doubling up to the last.
RECONNECT_FIRST_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 2.0


class _ResilientRedisBackend(RedisBackend):
    """broadcaster 0.3.1's Redis backend, with two fixes:

    - it wakes its listener before SUBSCRIBE has completed; redis-py's listen() then finds no
      subscription, returns at once, and the listener never listens again. Subscribing before
      waking the listener closes that race;
    - when Redis goes away its listener task dies with the connection error, so after a
      restart the process never subscribes again (events still arrive, by the hub's outbox
      polling, but late). Here the listener waits and listens again: redis-py reconnects and
      subscribes to the channels it had. What was published meanwhile is in the outbox, and
      the hub fills the gap by sequence (events/hub.py)."""

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()

    async def _pubsub_listener(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            await self._ready.wait()
            try:
                async for message in self._pubsub.listen():
                    delay = RECONNECT_FIRST_SECONDS
                    if message["type"] == "message":
                        await self._queue.put(
                            Event(
                                channel=message["channel"].decode(),
                                message=message["data"].decode(),
                            )
                        )
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                log.warning(
                    "lost the Redis broadcast (%s); listening again in %.1f s", error, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            self._ready.clear()  # no channel left: wait for the next subscription


def connect_broadcast(url: str) -> Broadcast:
    if urlparse(url).scheme in ("redis", "rediss"):
        return Broadcast(backend=_ResilientRedisBackend(url))
    return Broadcast(url)
