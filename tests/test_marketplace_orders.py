"""A marketplace's order may take its channel's buffer: the marketplace sold it against the
figure its connector last pulled, which the buffer kept below the real stock to absorb what
other channels sell between two syncs. Live channels, and carts anywhere, stay within the
buffer; nothing goes past the warehouses' stock or an allocation."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from support import channels, factories
from support.client import Client, Connector, operation


async def market(admin: Client) -> None:
    await factories.stocked(admin, "MKT-1", {"DC-1": 20})
    await channels.channel(admin, "MARKET", ["DC-1"], kind="BATCH", safetyBufferPercent=10)
    await channels.channel(admin, "SHOP", ["DC-1"], kind="REALTIME", safetyBufferPercent=10)


async def test_a_marketplace_order_sold_against_the_last_pull_takes_the_buffer(
    admin: Client, connector: Connector, engine: AsyncEngine
) -> None:
    await market(admin)
    amazon = await connector("MARKET")
    assert (await channels.ats(admin, "MARKET", "MKT-1"))["availableToSell"] == 18
    # The marketplace showed 18; meanwhile the shop sold 3, so 17 are really there and 15
    # would be shown now. An order of 17 sold against the 18 shown can still ship.
    sold = await channels.reserve(admin, sku="MKT-1", quantity=3, type="ORDER", channelCode="SHOP")
    assert sold["errors"] == []
    placed = await channels.reserve(
        amazon, sku="MKT-1", quantity=17, type="ORDER", channelCode="MARKET", referenceId="AMZ-1"
    )
    assert placed["errors"] == [], placed
    # Never past the stock itself.
    refused = await channels.reserve(
        amazon, sku="MKT-1", quantity=1, type="ORDER", channelCode="MARKET", referenceId="AMZ-2"
    )
    assert [e["code"] for e in refused["errors"]] == ["INSUFFICIENT_STOCK"]
    stock = await channels.level(engine, "MKT-1", "DC-1")
    assert stock["on_hand"] - stock["committed"] - stock["reserved"] == 0
    await channels.check_invariants(engine)


async def test_carts_and_live_channels_stay_within_the_buffer(
    admin: Client, connector: Connector, engine: AsyncEngine
) -> None:
    await market(admin)
    amazon = await connector("MARKET")
    cart = await channels.reserve(
        amazon, sku="MKT-1", quantity=19, type="CART", channelCode="MARKET", referenceId="c-1"
    )
    assert [e["code"] for e in cart["errors"]] == ["INSUFFICIENT_STOCK"]
    live = await channels.reserve(
        admin, sku="MKT-1", quantity=19, type="ORDER", channelCode="SHOP", referenceId="o-1"
    )
    assert [e["code"] for e in live["errors"]] == ["INSUFFICIENT_STOCK"]
    await channels.check_invariants(engine)


async def test_an_allocation_still_caps_a_marketplace_order(
    admin: Client, connector: Connector, engine: AsyncEngine
) -> None:
    await market(admin)
    amazon = await connector("MARKET")
    await admin.mutate(
        "setChannelInventory",
        operation("SetChannelInventory"),
        {
            "input": {
                "sku": "MKT-1",
                "channelCode": "MARKET",
                "allocatedQuantity": 6,
                "bufferQuantity": 2,
            }
        },
    )
    over = await channels.reserve(
        amazon, sku="MKT-1", quantity=7, type="ORDER", channelCode="MARKET", referenceId="A-1"
    )
    assert [e["code"] for e in over["errors"]] == ["INSUFFICIENT_STOCK"]
    within = await channels.reserve(
        amazon, sku="MKT-1", quantity=6, type="ORDER", channelCode="MARKET", referenceId="A-2"
    )
    assert within["errors"] == []
    await channels.check_invariants(engine)


async def test_concurrent_marketplace_orders_never_take_more_than_the_stock(
    admin: Client, connector: Connector, engine: AsyncEngine
) -> None:
    await market(admin)
    amazon = await connector("MARKET")
    answers = await asyncio.gather(
        *(
            channels.reserve(
                amazon,
                sku="MKT-1",
                quantity=3,
                type="ORDER",
                channelCode="MARKET",
                referenceId=f"AMZ-{n}",
            )
            for n in range(12)
        )
    )
    placed = sum(not answer["errors"] for answer in answers)
    assert placed == 6  # 18 of the 20 units: a seventh order of 3 would need 21
    await channels.check_invariants(engine)
