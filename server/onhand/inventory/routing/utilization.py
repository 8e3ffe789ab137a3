"""How busy each warehouse is, for routing: measured across the whole warehouse, so kept for
a few seconds per process rather than measured on every request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

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
