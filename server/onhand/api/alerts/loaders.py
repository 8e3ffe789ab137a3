"""The alerts domain's loaders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.dataloading import by_key
from onhand.inventory.alerts.model import alerts_by_ids


class AlertLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.by_id = by_key(engine, alerts_by_ids)
