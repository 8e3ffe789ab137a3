"""The webhooks domain's loaders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.dataloading import by_key, for_every_key
from onhand.webhooks.deliveries import attempts_of
from onhand.webhooks.endpoints import webhooks_by_ids


class WebhookLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.by_id = by_key(engine, webhooks_by_ids)
        self.attempts_of_delivery = for_every_key(engine, attempts_of)
