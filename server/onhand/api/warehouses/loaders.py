"""The warehouses' own loaders (beyond the ledger's, in api/loaders.py)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.api.dataloading import for_every_key
from onhand.inventory.stock_health import StockHealth, stock_health_by_warehouses

# A warehouse's id and the low-stock threshold its levels are judged by.
HealthKey = tuple[int, int]


async def _health(conn: AsyncConnection, keys: list[HealthKey]) -> dict[HealthKey, StockHealth]:
    # One process has one threshold, so this is one statement for every warehouse asked for.
    by_threshold: dict[int, list[int]] = defaultdict(list)
    for warehouse_id, threshold in keys:
        by_threshold[threshold].append(warehouse_id)
    found: dict[HealthKey, StockHealth] = {}
    for threshold, warehouse_ids in by_threshold.items():
        counted = await stock_health_by_warehouses(conn, warehouse_ids, threshold)
        found.update({(wid, threshold): health for wid, health in counted.items()})
    return found


class WarehouseLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.stock_health = for_every_key(engine, _health)
