"""Per-request dataloaders: every relation is fetched in one query per batch, never per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.dataloader import DataLoader

from onhand.core.records import LedgerEntry, Level, Product, Warehouse
from onhand.inventory import levels, movements, products, warehouses

K = TypeVar("K")
V = TypeVar("V")


class Loaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._extra: dict[str, DataLoader[Any, Any]] = {}
        self.warehouse = self._by_key(warehouses.warehouses_by_ids)
        self.warehouse_by_code = self._by_key(warehouses.warehouses_by_codes)
        self.product = self._by_key(products.products_by_ids)
        self.product_by_sku = self._by_key(products.products_by_skus)
        self.level = self._by_key(levels.levels_by_ids)
        self.level_by_pair = self._by_key(levels.levels_by_pairs)
        self.levels_of_product: DataLoader[int, list[Level]] = self._by_key(
            levels.levels_by_products
        )
        self.totals_of_product = self._by_key(levels.totals_by_products)
        self.movement = self._by_key(movements.movements_by_ids)

    def _by_key(
        self, fetch: Callable[[AsyncConnection, Sequence[K]], Awaitable[dict[K, V]]]
    ) -> DataLoader[K, V | None]:
        async def load(keys: list[K]) -> list[V | None]:
            async with self._engine.connect() as conn:
                found = await fetch(conn, keys)
            return [found.get(key) for key in keys]

        return DataLoader(load_fn=load)

    def custom(
        self,
        name: str,
        fetch: Callable[[AsyncConnection, Sequence[Any]], Awaitable[dict[Any, Any]]],
    ) -> DataLoader[Any, Any]:
        """A loader for another domain (channels, reservations, ...), created on first use."""
        if name not in self._extra:
            self._extra[name] = self._by_key(fetch)
        return self._extra[name]


__all__ = ["LedgerEntry", "Level", "Loaders", "Product", "Warehouse"]
