"""The reservations domain's loaders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.dataloading import by_key
from onhand.inventory.reservations.model import reservations_by_ids
from onhand.inventory.reservations.pickup import pickup_locations_of


class ReservationLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.by_id = by_key(engine, reservations_by_ids)
        self.pickup_location = by_key(engine, pickup_locations_of)
