"""The webhooks domain's loaders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.dataloading import by_key
from onhand.webhooks.endpoints import webhooks_by_ids


class WebhookLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.by_id = by_key(engine, webhooks_by_ids)
