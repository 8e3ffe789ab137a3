"""The pub/sub connection events travel on, built with broadcaster from the configured URL."""

from __future__ import annotations

from urllib.parse import urlparse

from broadcaster import Broadcast
from broadcaster._backends.redis import RedisBackend


class _SubscribeFirstRedisBackend(RedisBackend):
    """broadcaster 0.3.1 wakes its Redis listener before SUBSCRIBE has completed; redis-py's
    listen() then finds no subscription, returns at once, and the listener never listens
    again. Subscribing before waking the listener closes that race."""

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()


def connect_broadcast(url: str) -> Broadcast:
    if urlparse(url).scheme in ("redis", "rediss"):
        return Broadcast(backend=_SubscribeFirstRedisBackend(url))
    return Broadcast(url)
