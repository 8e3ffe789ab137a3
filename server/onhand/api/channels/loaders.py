"""The channels domain's loaders."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.api.dataloading import by_key
from onhand.inventory.channels import registry
from onhand.inventory.channels.availability import ChannelAvailability, availability


async def availability_of_products(
    conn: AsyncConnection, product_ids: Sequence[int]
) -> dict[int, list[ChannelAvailability]]:
    """Each product's availability on every active channel."""
    active = await registry.active_channels(conn)
    found = await availability(conn, active, product_ids)
    return {
        pid: [found[(c.id, pid)] for c in active if (c.id, pid) in found] for pid in product_ids
    }


class ChannelLoaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.by_id = by_key(engine, registry.channels_by_ids)
        self.by_code = by_key(engine, registry.channels_by_codes)
        self.warehouse_ids = by_key(engine, registry.warehouses_of_channels)
        self.availability_of_product = by_key(engine, availability_of_products)
