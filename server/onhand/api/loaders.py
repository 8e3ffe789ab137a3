"""Per-request dataloaders: every relation is fetched in one query per batch, never per row.
The ledger's own (warehouses, products, levels, movements) are here; each other domain's are
in its own loaders.py, made on first use in a request."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from onhand.api.alerts.loaders import AlertLoaders
from onhand.api.channels.loaders import ChannelLoaders
from onhand.api.dataloading import DomainLoaders, by_key, for_every_key
from onhand.api.imports.loaders import ImportLoaders
from onhand.api.kits.loaders import KitLoaders
from onhand.api.reservations.loaders import ReservationLoaders
from onhand.api.source_events.loaders import SourceEventLoaders
from onhand.api.transfers.loaders import TransferLoaders
from onhand.api.warehouses.loaders import WarehouseLoaders
from onhand.api.webhooks.loaders import WebhookLoaders
from onhand.core.records import Level
from onhand.inventory import levels, movements, products, warehouses


class Loaders:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.warehouse = by_key(engine, warehouses.warehouses_by_ids)
        self.warehouse_by_code = by_key(engine, warehouses.warehouses_by_codes)
        self.product = by_key(engine, products.products_by_ids)
        self.product_by_sku = by_key(engine, products.products_by_skus)
        self.level = by_key(engine, levels.levels_by_ids)
        self.level_by_pair = by_key(engine, levels.levels_by_pairs)
        self.levels_of_product: DataLoader[int, list[Level] | None] = by_key(
            engine, levels.levels_by_products
        )
        self.totals_of_product = for_every_key(engine, levels.totals_by_products)
        self.movement = by_key(engine, movements.movements_by_ids)

    alerts = DomainLoaders(AlertLoaders)
    channels = DomainLoaders(ChannelLoaders)
    imports = DomainLoaders(ImportLoaders)
    kits = DomainLoaders(KitLoaders)
    reservations = DomainLoaders(ReservationLoaders)
    source_events = DomainLoaders(SourceEventLoaders)
    transfers = DomainLoaders(TransferLoaders)
    warehouses = DomainLoaders(WarehouseLoaders)
    webhooks = DomainLoaders(WebhookLoaders)
