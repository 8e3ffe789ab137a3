"""Available-to-sell per channel: buffers, allocations, what the channel holds, and which
warehouses count; setChannelInventory; a product's availability on every channel."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.channels.availability import percent_of
from support import factories
from support.channels import ats, channel, check_invariants, reserve
from support.client import Client, operation


async def set_allocation(client: Client, **values: Any) -> dict[str, Any]:
    body = await client(operation("SetChannelInventory"), {"input": values})
    return dict(body["setChannelInventory"])


@pytest.mark.parametrize(
    ("stock", "percent", "expected"),
    [(100, 5, 95), (20, 5, 19), (1, 5, 0), (100, 7, 93), (10, 0, 10), (0, 5, 0), (33, 10, 29)],
)
async def test_without_an_allocation_the_safety_buffer_percent_is_kept_back_rounded_up(
    admin: Client, stock: int, percent: float, expected: int
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": stock})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=percent)
    found = await ats(admin, "WEBSITE", "SKU-1")
    assert found["availableToSell"] == expected
    assert found["bufferQuantity"] == stock - expected
    assert found["allocatedQuantity"] is None


def test_percentages_are_decimal() -> None:
    """7% of 100 is 7 (binary floating point would make it 7.000000000000001, then 8)."""
    assert percent_of(100, 7) == 7
    assert percent_of(1000, 0.1) == 1
    assert percent_of(3, 33.4) == 2


async def test_only_the_channels_active_warehouses_count_and_none_below_zero(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 10, "DC-2": 4, "DC-3": 50})
    # DC-2 is short of its safety stock: it counts as zero, not as -2.
    await admin(
        operation("SetInventoryLevel"),
        {"input": {"sku": "SKU-1", "warehouseCode": "DC-2", "safetyStock": 6}},
    )
    await channel(admin, "POS", ["DC-1", "DC-2"], safetyBufferPercent=0)
    found = await admin(operation("ProductAvailability"), {"sku": "SKU-1"})
    [pos] = found["product"]["channelAvailability"]
    assert pos["availableToSell"] == 10
    assert [
        (w["warehouse"]["code"], w["onHand"], w["available"], w["sellable"])
        for w in pos["warehouses"]
    ] == [("DC-1", 10, 10, 10), ("DC-2", 4, -2, 0)]
    await admin(
        """mutation($id: ID!) { updateWarehouse(input: {id: $id, isActive: false}) {
            errors { code } } }""",
        {"id": (await admin('{ warehouse(code: "DC-1") { id } }'))["warehouse"]["id"]},
    )
    assert (await ats(admin, "POS", "SKU-1"))["availableToSell"] == 0


async def test_an_allocation_caps_the_channel_and_its_buffer_replaces_the_percent(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    ids = await factories.stocked(admin, "SKU-1", {"DC-1": 100})
    made = await channel(admin, "AMAZON", ["DC-1"], safetyBufferPercent=10)
    # The seed's call, as written.
    set_to = await set_allocation(
        admin,
        productId=ids["product"],
        channelId=made["id"],
        allocatedQuantity=30,
        bufferQuantity=5,
    )
    assert set_to["errors"] == []
    entry = set_to["channelInventory"]
    assert (entry["allocatedQuantity"], entry["bufferQuantity"], entry["availableToSell"]) == (
        30,
        5,
        25,
    )
    assert entry["version"] == 1
    # What the channel holds comes off its allocation.
    held = await reserve(storefront, sku="SKU-1", quantity=20, channelCode="AMAZON")
    assert held["errors"] == []
    after = await ats(admin, "AMAZON", "SKU-1")
    assert (after["heldQuantity"], after["availableToSell"]) == (20, 5)
    refused = await reserve(storefront, sku="SKU-1", quantity=6, channelCode="AMAZON")
    assert [(e["code"], e["available"]) for e in refused["errors"]] == [("INSUFFICIENT_STOCK", 5)]
    # The warehouse could, but the channel may not: its allocation is the limit.
    other = await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    assert (await ats(admin, "WEBSITE", "SKU-1"))["availableToSell"] == 80
    assert other["code"] == "WEBSITE"
    await check_invariants(engine)


async def test_physical_stock_caps_even_a_generous_allocation(admin: Client) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 12})
    await channel(admin, "EBAY", ["DC-1"])
    entry = (await set_allocation(admin, sku="SKU-1", channelCode="EBAY", allocatedQuantity=500))[
        "channelInventory"
    ]
    assert (entry["physicalAvailable"], entry["bufferQuantity"], entry["availableToSell"]) == (
        12,
        0,
        12,
    )


async def test_set_channel_inventory_is_version_checked_and_can_clear_the_allocation(
    admin: Client, operator: Client
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 40})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=5)
    first = await set_allocation(
        operator, sku="SKU-1", channelCode="WEBSITE", allocatedQuantity=10, expectedVersion=0
    )
    assert first["channelInventory"]["version"] == 1
    stale = await set_allocation(
        operator, sku="SKU-1", channelCode="WEBSITE", allocatedQuantity=11, expectedVersion=0
    )
    assert [(e["code"], e["currentVersion"]) for e in stale["errors"]] == [("VERSION_CONFLICT", 1)]
    # Only the buffer: the allocation stays.
    buffered = await set_allocation(operator, sku="SKU-1", channelCode="WEBSITE", bufferQuantity=3)
    entry = buffered["channelInventory"]
    assert (entry["allocatedQuantity"], entry["bufferQuantity"], entry["version"]) == (10, 3, 2)
    cleared = await set_allocation(
        operator, sku="SKU-1", channelCode="WEBSITE", allocatedQuantity=None, bufferQuantity=None
    )
    entry = cleared["channelInventory"]
    # Back to the channel's percent: 5% of 40, rounded up.
    assert (entry["allocatedQuantity"], entry["bufferQuantity"], entry["availableToSell"]) == (
        None,
        2,
        38,
    )


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({"allocatedQuantity": -1}, "allocatedQuantity", "INVALID"),
        ({"bufferQuantity": -2}, "bufferQuantity", "INVALID"),
        ({}, "allocatedQuantity", "REQUIRED"),
        ({"allocatedQuantity": 1, "channelCode": "NOPE"}, "channelCode", "NOT_FOUND"),
        ({"allocatedQuantity": 1, "variantId": "other"}, "variantId", "INVALID"),
    ],
)
async def test_bad_allocations_are_refused_by_field(
    admin: Client, engine: AsyncEngine, values: dict[str, Any], field: str, code: str
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 5})
    await channel(admin, "WEBSITE", ["DC-1"])
    result = await set_allocation(admin, **{"sku": "SKU-1", "channelCode": "WEBSITE", **values})
    assert [(e["field"], e["code"]) for e in result["errors"]] == [(field, code)]
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT count(*) FROM channel_inventory"))).scalar()
    assert rows == 0


async def test_storefronts_may_not_allocate(admin: Client, storefront: Client) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 5})
    await channel(admin, "WEBSITE", ["DC-1"])
    refused = await set_allocation(
        storefront, sku="SKU-1", channelCode="WEBSITE", allocatedQuantity=1
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]


async def test_fulfilment_consumes_the_allocation(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 50})
    await channel(admin, "WEBSITE", ["DC-1"])
    await set_allocation(admin, sku="SKU-1", channelCode="WEBSITE", allocatedQuantity=20)
    order = await reserve(storefront, sku="SKU-1", quantity=8, type="ORDER", channelCode="WEBSITE")
    assert (await ats(admin, "WEBSITE", "SKU-1"))["availableToSell"] == 12
    await storefront.mutate(
        "fulfillReservation",
        operation("FulfillReservation"),
        {"input": {"id": order["reservation"]["id"]}},
    )
    after = await ats(admin, "WEBSITE", "SKU-1")
    assert (after["allocatedQuantity"], after["heldQuantity"], after["availableToSell"]) == (
        12,
        0,
        12,
    )
    assert after["physicalAvailable"] == 42
    await check_invariants(engine)


async def test_with_oversell_protection_off_only_the_warehouses_rules_apply(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    await channel(admin, "POS", ["DC-1"], oversellProtection=False)
    await set_allocation(admin, sku="SKU-1", channelCode="POS", allocatedQuantity=2)
    beyond = await reserve(storefront, sku="SKU-1", quantity=9, channelCode="POS")
    assert beyond["errors"] == []
    no_more = await reserve(storefront, sku="SKU-1", quantity=2, channelCode="POS")
    assert [(e["code"], e["available"]) for e in no_more["errors"]] == [("INSUFFICIENT_STOCK", 1)]
    await check_invariants(engine)


async def test_inactive_channels_and_products_sell_nothing(admin: Client) -> None:
    ids = await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    made = await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    assert (await ats(admin, "WEBSITE", "SKU-1"))["availableToSell"] == 10
    await admin(
        """mutation($id: ID!) { updateProduct(input: {id: $id, isActive: false}) {
            errors { code } } }""",
        {"id": ids["product"]},
    )
    assert (await ats(admin, "WEBSITE", "SKU-1"))["availableToSell"] == 0
    await admin(
        """mutation($id: ID!) { updateProduct(input: {id: $id, isActive: true}) {
            errors { code } } }""",
        {"id": ids["product"]},
    )
    await admin(operation("UpdateChannel"), {"input": {"id": made["id"], "isActive": False}})
    assert (await ats(admin, "WEBSITE", "SKU-1"))["availableToSell"] == 0


async def test_a_product_shows_its_availability_on_every_active_channel(
    admin: Client, storefront: Client
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 10, "DC-2": 20})
    await channel(admin, "WEBSITE", ["DC-1", "DC-2"], safetyBufferPercent=10)
    await channel(admin, "POS", ["DC-1"], safetyBufferPercent=0)
    await channel(admin, "OLD", ["DC-1"], isActive=False)
    await set_allocation(admin, sku="SKU-1", channelCode="POS", allocatedQuantity=4)
    found = await storefront(
        """query { product(sku: "SKU-1") { channelAvailability {
            channel { code } availableToSell physicalAvailable } } }"""
    )
    assert found["product"]["channelAvailability"] == [
        {"channel": {"code": "WEBSITE"}, "availableToSell": 27, "physicalAvailable": 30},
        {"channel": {"code": "POS"}, "availableToSell": 4, "physicalAvailable": 10},
    ]
    many = await storefront(
        '{ channelInventory(channelCode: "WEBSITE", skus: ["SKU-1", "NOPE"]) { product { sku } } }'
    )
    assert many["channelInventory"] == [{"product": {"sku": "SKU-1"}}]


async def test_a_percent_buffer_keeps_back_part_of_what_remains_so_the_last_unit_never_sells(
    admin: Client, storefront: Client
) -> None:
    """The rule the README states: with no allocation, the buffer is the channel's percent of
    what is available now, rounded up; it shrinks as stock sells, and the last unit is always
    kept back. 40 units at 5%: 39 can be sold, one at a time, the 40th is refused."""
    await factories.stocked(admin, "BUF-1", {"DC-1": 40})
    await channel(admin, "FIVE", ["DC-1"], safetyBufferPercent=5)
    sold = 0
    while True:
        made = await reserve(storefront, sku="BUF-1", quantity=1, channelCode="FIVE")
        if made["errors"]:
            assert [e["code"] for e in made["errors"]] == ["INSUFFICIENT_STOCK"]
            break
        sold += 1
        assert sold <= 40
    assert sold == 39
