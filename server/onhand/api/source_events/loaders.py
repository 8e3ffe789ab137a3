"""The source events domain's loaders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.dataloading import by_key
from onhand.inventory.source_events.records import source_events_by_ids


class SourceEventLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.by_id = by_key(engine, source_events_by_ids)
