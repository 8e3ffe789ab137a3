"""Product queries."""

from __future__ import annotations

from typing import Annotated

import strawberry

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.api.products.types import Product, ProductConnection
from onhand.auth.roles import Permission
from onhand.inventory.products import ProductFilter, product_listing

CATALOG = [requires(Permission.READ_CATALOG)]


@strawberry.type
class ProductQuery:
    @strawberry.field(permission_classes=CATALOG, description="One product, by id or by SKU.")
    async def product(
        self, info: Info, id: strawberry.ID | None = None, sku: str | None = None
    ) -> Product | None:
        loaders = info.context.loaders
        if id is not None:
            record = await loaders.product.load(ids.decode(id, "Product", "id"))
        elif sku is not None:
            record = await loaders.product_by_sku.load(sku)
        else:
            return None
        return Product.from_record(record) if record else None

    @strawberry.field(permission_classes=CATALOG)
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: Annotated[
            str | None, strawberry.argument(description="Part of a SKU or name, any case.")
        ] = None,
        is_active: bool | None = None,
        skus: list[str] | None = None,
    ) -> ProductConnection:
        listing = product_listing(
            ProductFilter(search=search, is_active=is_active, skus=tuple(skus or ()))
        )
        return await paginate(info, listing, Product.from_row, first, after, ProductConnection)
