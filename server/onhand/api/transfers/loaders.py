"""The transfers domain's loaders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.dataloading import by_key
from onhand.inventory.transfers import discrepancies, orders


class TransferLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.by_id = by_key(engine, orders.transfer_orders_by_ids)
        self.lines_of_order = by_key(engine, orders.lines_by_orders)
        self.discrepancies_of_order = by_key(engine, discrepancies.discrepancies_by_orders)
