"""What reservations take from configuration and from the process: default lifetimes, limits,
and how busy each warehouse is (measured across the whole warehouse, so kept for a few
seconds per process rather than measured on every request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.context import Context
from onhand.inventory.reservations.requests import Terms
from onhand.inventory.routing.planning import WarehouseKey, utilization


class UtilizationCache:
    def __init__(self, engine: AsyncEngine, seconds: float) -> None:
        self.engine = engine
        self.seconds = seconds
        self._value: Mapping[WarehouseKey, float] = {}
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> Mapping[WarehouseKey, float]:
        if time.monotonic() < self._until:
            return self._value
        async with self._lock:  # one refresh at a time; the others reuse it
            if time.monotonic() >= self._until:
                async with self.engine.connect() as conn:
                    self._value = await utilization(conn)
                self._until = time.monotonic() + self.seconds
        return self._value


async def reservation_terms(context: Context, routing: bool = True) -> Terms:
    """`routing`: whether some line needs a warehouse chosen (only then is utilization read)."""
    settings = context.settings
    busy: Mapping[WarehouseKey, float] = {}
    if routing:
        cache = context.services.extras.get("reservations.utilization")
        if cache is None:
            cache = UtilizationCache(context.services.engine, settings.routing_stats_seconds)
            context.services.extras["reservations.utilization"] = cache
        busy = await cache.get()
    return Terms(
        cart_ttl=settings.cart_reservation_ttl,
        transfer_ttl=settings.transfer_reservation_ttl,
        max_lines=settings.max_cart_lines,
        utilization=busy,
    )
