"""Per-token leaky buckets of query cost, as Shopify's Admin API keeps them: a bucket holds at
most `maximum`, refills at `restore_rate` per second, and an operation takes its cost out
before it runs, or waits when there is not enough left.

With Redis configured the buckets live there, updated by one Lua script (read, refill, take,
write: atomic), so every server process draws on the same bucket; Redis's own clock refills
them, so the processes' clocks need not agree. Without Redis each process keeps its own. When
Redis cannot be reached the process falls back to its own buckets for a moment rather than
refuse or stall requests: a limit for runaway clients must not take the API down with it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from onhand.config import CostLimit, Settings

log = logging.getLogger(__name__)

# After Redis failed, how long the process uses its own buckets before trying Redis again.
REDIS_PAUSE_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 0.5

# KEYS[1]: the bucket. ARGV: maximum, restore rate per second, cost (negative: a refund).
# Returns whether the cost was taken and what is left, as text (Lua numbers would be cut to
# integers in the reply).
TAKE = """
local maximum = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'available', 'at')
local available = maximum
if state[1] then
  available = math.min(maximum, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
end
local taken = 0
if cost <= available then
  available = math.min(maximum, available - cost)
  taken = 1
end
redis.call('HSET', KEYS[1], 'available', tostring(available), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((maximum - available) / rate * 1000) + 1000)
return {taken, tostring(available)}
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    taken: bool
    available: float  # what is left in the bucket now
    limit: CostLimit

    def retry_after(self, cost: int) -> float:
        """Seconds until the bucket holds `cost`."""
        return max(0.0, (cost - self.available) / self.limit.restore_rate)


class CostLimits:
    """Which bucket size a token has: its own override, its role's, else the default."""

    def __init__(self, settings: Settings) -> None:
        self.overrides = dict(settings.cost_limits)
        self.default = CostLimit(
            maximum=settings.cost_limit_maximum, restore_rate=settings.cost_limit_restore_rate
        )

    def of(self, token_name: str, role: str) -> CostLimit:
        return self.overrides.get(token_name) or self.overrides.get(role) or self.default


class LocalBuckets:
    """This process's buckets."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # name: (available, when)

    def take(self, name: str, cost: float, limit: CostLimit) -> Outcome:
        now = time.monotonic()
        available, then = self._buckets.get(name, (float(limit.maximum), now))
        available = min(limit.maximum, available + (now - then) * limit.restore_rate)
        taken = cost <= available
        if taken:
            available = min(limit.maximum, available - cost)
        self._buckets[name] = (available, now)
        return Outcome(taken, available, limit)


class CostBuckets:
    """The buckets of every token: in Redis when one is configured, else in this process."""

    def __init__(self, redis_url: str | None, namespace: str) -> None:
        # Deployments sharing a Redis keep apart as their events do, by their channel name.
        self.prefix = f"{namespace}.cost:"
        self.local = LocalBuckets()
        self.redis = (
            redis.Redis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            if redis_url
            else None
        )
        self._script = self.redis.register_script(TAKE) if self.redis is not None else None
        self._redis_paused_until = 0.0

    async def take(self, name: str, cost: float, limit: CostLimit) -> Outcome:
        """Take `cost` out of the token's bucket if it holds that much (a negative cost gives
        some back)."""
        if self._script is None or time.monotonic() < self._redis_paused_until:
            return self.local.take(name, cost, limit)
        try:
            taken, available = await self._script(
                keys=[self.prefix + name], args=[limit.maximum, limit.restore_rate, cost]
            )
        except (RedisError, OSError) as error:
            log.warning("query cost buckets: Redis unavailable (%s), using this process's", error)
            self._redis_paused_until = time.monotonic() + REDIS_PAUSE_SECONDS
            return self.local.take(name, cost, limit)
        return Outcome(bool(taken), float(available), limit)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
