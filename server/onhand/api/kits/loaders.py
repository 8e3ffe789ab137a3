"""The kits domain's loaders."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.api.dataloading import for_every_key
from onhand.inventory.kits.definition import Component, components_of


async def _components(conn: AsyncConnection, kit_ids: Sequence[int]) -> dict[int, list[Component]]:
    found = await components_of(conn, kit_ids)
    return {kit_id: found.get(kit_id, []) for kit_id in kit_ids}


class KitLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.components = for_every_key(engine, _components)
