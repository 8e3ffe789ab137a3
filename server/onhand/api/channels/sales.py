"""Channel sales queries: a product's sales per channel (productSalesByChannel) and the
allocations that sat unsold (channelsWithExcess), from the same selections the allocation
strategies and reallocateUnsoldInventory use."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from onhand.api.channels.access import scope
from onhand.api.channels.allocations import product_refs
from onhand.api.channels.types import Channel, load_channel
from onhand.api.context import Info
from onhand.api.inputs import product_ref
from onhand.api.permissions import requires
from onhand.api.products.types import Product
from onhand.auth.roles import Permission
from onhand.inventory.channels import reallocation
from onhand.inventory.channels.sales import SalesPeriod, SalesQuery, product_sales_by_channel

SalesPeriodEnum = strawberry.enum(
    SalesPeriod, name="SalesPeriod", description="A window ending now, in days."
)


async def _channel(info: Info, channel_id: int) -> Channel:
    record = await load_channel(info, channel_id)
    assert record is not None  # channels are never deleted
    return Channel.from_record(record)


@strawberry.type(description="Units of a product one channel sold in a window.")
class ChannelSales:
    channel_id: strawberry.Private[int]
    quantity: int = strawberry.field(description="Units sold (SALE movements of the channel).")

    @strawberry.field
    async def channel(self, info: Info) -> Channel:
        return await _channel(info, self.channel_id)


@strawberry.type(description="An allocation that sat unsold: what reallocation would move.")
class ExcessAllocation:
    product_id: strawberry.Private[int]
    allocated_quantity: int = strawberry.field(description="The channel's allocation.")
    held_quantity: int = strawberry.field(
        description="What the channel holds through active reservations."
    )
    excess_quantity: int = strawberry.field(description="allocatedQuantity - heldQuantity.")
    allocated_since: datetime = strawberry.field(description="When the allocation was set.")
    last_sold_at: datetime | None = strawberry.field(
        description="The channel's last sale of the product (before the window; null: never). "
        "Units sold in the window are 0 by definition: a sale in it means no excess."
    )

    @strawberry.field
    async def product(self, info: Info) -> Product:
        found = await Product.load(info, self.product_id)
        assert found is not None  # products are never deleted
        return found


@strawberry.type(description="A channel holding allocation it did not sell in the window.")
class ChannelExcess:
    channel_id: strawberry.Private[int]
    excess_quantity: int = strawberry.field(description="The sum over its excess products.")
    excess_products: list[ExcessAllocation]

    @strawberry.field
    async def channel(self, info: Info) -> Channel:
        return await _channel(info, self.channel_id)


@strawberry.type
class ChannelSalesQuery:
    @strawberry.field(
        permission_classes=[requires(Permission.READ_AUDIT)],
        description="A product's units sold per channel (SALE movements, by business time), "
        "the best seller first; channels that sold none are left out, as are sales made "
        "without a channel. The window: a period, or since (inclusive) until (exclusive, "
        "default now); neither: LAST_30_DAYS, the lookback PROPORTIONAL allocation uses.",
    )
    async def product_sales_by_channel(
        self,
        info: Info,
        product_id: strawberry.ID | None = None,
        sku: str | None = None,
        period: SalesPeriodEnum | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ChannelSales]:
        bound = scope(info.context)
        request = SalesQuery(
            product=product_ref(product_id, sku),
            period=period,
            since=since,
            until=until,
            channel_ids=[bound] if bound is not None else None,
        )
        found = await info.context.read(lambda conn: product_sales_by_channel(conn, request))
        return [ChannelSales(channel_id=s.channel_id, quantity=s.quantity) for s in found]

    @strawberry.field(
        permission_classes=[requires(Permission.MANAGE_ALLOCATIONS)],
        description="Channels holding allocation they did not sell: allocated at least "
        "thresholdDays ago, no sale in that time, more allocated than held. Exactly what "
        "reallocateUnsoldInventory would take from them; this moves nothing.",
    )
    async def channels_with_excess(
        self,
        info: Info,
        threshold_days: Annotated[
            int, strawberry.argument(description="Unsold for at least this many days (1-365).")
        ] = 30,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
    ) -> list[ChannelExcess]:
        products = product_refs(product_ids, skus)
        found = await info.context.read(
            lambda conn: reallocation.channels_with_excess(
                conn, threshold_days=threshold_days, products=products
            )
        )
        return [
            ChannelExcess(
                channel_id=channel_id,
                excess_quantity=sum(u.excess for u in unsold),
                excess_products=[
                    ExcessAllocation(
                        product_id=u.product_id,
                        allocated_quantity=u.allocated,
                        held_quantity=u.held,
                        excess_quantity=u.excess,
                        allocated_since=u.allocated_since,
                        last_sold_at=u.last_sold_at,
                    )
                    for u in unsold
                ],
            )
            for channel_id, unsold in found.items()
        ]
