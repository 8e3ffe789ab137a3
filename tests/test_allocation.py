"""Allocation strategies, each on a worked example with known numbers (sales history from SALE
movements carrying their channel), and reallocation of unsold allocations."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.channels.strategies import Demand, Strategy, allocate
from support import factories
from support.channels import age_allocation, channel, check_invariants, sell
from support.client import Client, operation


def shares(strategy: Strategy, total: int, sold: dict[int, int], **options: Any) -> list[Any]:
    demands = [Demand(cid, priority, sold.get(cid, 0)) for cid, priority in PRIORITIES.items()]
    return [
        (s.channel_id, s.quantity, s.buffer) for s in allocate(strategy, total, demands, **options)
    ]


PRIORITIES = {1: 1, 2: 2, 3: 0}  # channel id: priority


def test_proportional_follows_sales_and_rounding_loses_nothing() -> None:
    # 101 x 60% = 60.6, x 30% = 30.3, x 10% = 10.1: the spare unit goes to the largest part.
    assert shares(Strategy.PROPORTIONAL, 101, {1: 60, 2: 30, 3: 10}) == [
        (1, 61, 6),
        (2, 30, 3),
        (3, 10, 1),
    ]


def test_proportional_without_history_splits_equally_highest_priority_first() -> None:
    assert shares(Strategy.PROPORTIONAL, 100, {}) == [(1, 33, 3), (2, 34, 3), (3, 33, 3)]


def test_velocity_gives_each_its_days_of_supply_fastest_first() -> None:
    # 60 and 30 sold in 30 days: 2 and 1 a day, 28 and 14 for 14 days; 8 stay unallocated.
    assert shares(Strategy.VELOCITY, 50, {1: 60, 2: 30}) == [(1, 28, 4), (2, 14, 2), (3, 0, 0)]
    # Short of stock: the fastest seller is served first.
    assert shares(Strategy.VELOCITY, 20, {1: 60, 2: 30}) == [(1, 20, 3), (2, 0, 0), (3, 0, 0)]


def test_priority_serves_channels_in_priority_order_and_gives_the_rest_to_the_first() -> None:
    assert shares(Strategy.PRIORITY, 50, {1: 60, 2: 30}) == [(1, 28, 2), (2, 22, 2), (3, 0, 0)]
    assert shares(Strategy.PRIORITY, 20, {1: 60, 2: 30}) == [(1, 6, 0), (2, 14, 1), (3, 0, 0)]


def test_equal_and_a_given_buffer_percent() -> None:
    assert shares(Strategy.EQUAL, 10, {1: 99}) == [(1, 3, 0), (2, 4, 0), (3, 3, 0)]
    assert shares(Strategy.EQUAL, 90, {}, buffer_percent=20) == [
        (1, 30, 6),
        (2, 30, 6),
        (3, 30, 6),
    ]


ALLOCATE = operation("AllocateInventoryToChannels")


async def shop(admin: Client, stock: int = 1000) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": stock})
    await factories.stocked(admin, "SKU-2", {"DC-1": 100})
    await channel(admin, "WEBSITE", ["DC-1"], priority=1, safetyBufferPercent=0)
    await channel(admin, "AMAZON", ["DC-1"], priority=2, safetyBufferPercent=0)
    await channel(admin, "POS", ["DC-1"], priority=0, safetyBufferPercent=0)


def by_channel(payload: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {
        a["channel"]["code"]: (a["allocatedQuantity"], a["bufferQuantity"])
        for a in payload["allocations"]
    }


async def test_proportional_reads_the_last_30_days_of_sales_from_the_ledger(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await sell(storefront, "WEBSITE", 60, days_ago=3)
    await sell(storefront, "AMAZON", 30, days_ago=29)
    await sell(storefront, "POS", 10, days_ago=1)
    await sell(storefront, "POS", 200, days_ago=45)  # too old to count
    result = await admin.mutate(
        "allocateInventoryToChannels",
        ALLOCATE,
        {"input": {"skus": ["SKU-1"], "strategy": "PROPORTIONAL", "totalQuantity": 101}},
    )
    assert by_channel(result) == {"WEBSITE": (61, 6), "AMAZON": (30, 3), "POS": (10, 1)}
    assert {a["product"]["sku"] for a in result["allocations"]} == {"SKU-1"}
    # SKU-2 never sold: an equal split of what the warehouses have (100), 10% buffers.
    equal = await admin.mutate(
        "allocateInventoryToChannels",
        ALLOCATE,
        {"input": {"skus": ["SKU-2"], "strategy": "PROPORTIONAL"}},
    )
    assert by_channel(equal) == {"WEBSITE": (33, 3), "AMAZON": (34, 3), "POS": (33, 3)}
    await check_invariants(engine)


async def test_velocity_priority_equal_and_custom_through_the_api(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await sell(storefront, "WEBSITE", 60, days_ago=2)
    await sell(storefront, "AMAZON", 30, days_ago=2)
    cases = {
        "VELOCITY": {"WEBSITE": (28, 4), "AMAZON": (14, 2), "POS": (0, 0)},
        "PRIORITY": {"WEBSITE": (28, 2), "AMAZON": (22, 2), "POS": (0, 0)},
        "EQUAL": {"WEBSITE": (17, 1), "AMAZON": (17, 1), "POS": (16, 1)},
    }
    for strategy, expected in cases.items():
        result = await admin.mutate(
            "allocateInventoryToChannels",
            ALLOCATE,
            {"input": {"skus": ["SKU-1"], "strategy": strategy, "totalQuantity": 50}},
        )
        assert by_channel(result) == expected, strategy
    custom = await admin.mutate(
        "allocateInventoryToChannels",
        ALLOCATE,
        {
            "input": {
                "skus": ["SKU-1", "SKU-2"],
                "strategy": "CUSTOM",
                "custom": [
                    {"channelCode": "POS", "allocatedQuantity": 7, "bufferQuantity": 1},
                    # `quantity`, the old name, still works.
                    {"channelCode": "POS", "sku": "SKU-2", "quantity": 3},
                ],
            }
        },
    )
    assert sorted(
        (a["product"]["sku"], a["channel"]["code"], a["allocatedQuantity"], a["bufferQuantity"])
        for a in custom["allocations"]
    ) == [("SKU-1", "POS", 7, 1), ("SKU-2", "POS", 3, 0)]
    # Only the channels named are limited to what was allocated.
    found = await admin(operation("ChannelInventory"), {"channelCode": "POS", "skus": ["SKU-1"]})
    assert found["channelInventory"][0]["availableToSell"] == 6
    await check_invariants(engine)


async def test_allocation_input_is_checked(admin: Client) -> None:
    await shop(admin)
    for values, field in (
        ({"skus": [], "strategy": "EQUAL"}, "products"),
        ({"skus": ["SKU-1"], "strategy": "CUSTOM"}, "custom"),
        (
            {"skus": ["SKU-1"], "strategy": "CUSTOM", "custom": [{"channelCode": "POS"}]},
            "custom.0.allocatedQuantity",
        ),
        (
            {
                "skus": ["SKU-1"],
                "strategy": "CUSTOM",
                "custom": [{"channelCode": "POS", "quantity": 1, "allocatedQuantity": 2}],
            },
            "custom.0.allocatedQuantity",
        ),
        ({"skus": ["SKU-1"], "strategy": "EQUAL", "totalQuantity": -1}, "totalQuantity"),
        ({"skus": ["SKU-1"], "strategy": "EQUAL", "bufferPercent": 120}, "bufferPercent"),
        ({"skus": ["NOPE"], "strategy": "EQUAL"}, "skus.0"),
        ({"skus": ["SKU-1"], "strategy": "EQUAL", "channelCodes": ["NOPE"]}, "channelCodes.0"),
    ):
        result = await admin(ALLOCATE, {"input": values})
        errors = result["allocateInventoryToChannels"]["errors"]
        assert field in [e["field"] for e in errors], (values, errors)


REALLOCATE = operation("ReallocateUnsoldInventory")


async def test_unsold_allocation_moves_to_the_channels_that_sell_fastest(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await channel(admin, "EBAY", ["DC-1"], safetyBufferPercent=0)
    await sell(storefront, "AMAZON", 60, days_ago=5)  # 2 a day: wants 28 for 14 days
    await sell(storefront, "WEBSITE", 30, days_ago=5)  # 1 a day: wants 14
    await sell(storefront, "EBAY", 300, days_ago=5)  # fastest, but has no allocation to raise
    for code, quantity in (("POS", 40), ("AMAZON", 5), ("WEBSITE", 10)):
        await allocate_to(admin, code, quantity)
    # POS got its allocation 40 days ago and sold nothing since.
    await age_allocation(engine, "POS", 40)
    result = await admin.mutate("reallocateUnsoldInventory", REALLOCATE, {"input": {}})
    assert [
        (m["fromChannel"]["code"], m["toChannel"]["code"], m["quantity"]) for m in result["moves"]
    ] == [("POS", "AMAZON", 23), ("POS", "WEBSITE", 4)]
    after = await admin(
        """{ product(sku: "SKU-1") { channelAvailability {
            channel { code } allocatedQuantity } } }"""
    )
    assert {
        a["channel"]["code"]: a["allocatedQuantity"]
        for a in after["product"]["channelAvailability"]
    } == {"WEBSITE": 14, "AMAZON": 28, "POS": 13, "EBAY": None}
    # Nothing is left to move now: the fast sellers have their supply.
    again = await admin.mutate("reallocateUnsoldInventory", REALLOCATE, {"input": {}})
    assert again["moves"] == []
    await check_invariants(engine)


async def allocate_to(admin: Client, code: str, quantity: int) -> None:
    await admin.mutate(
        "setChannelInventory",
        operation("SetChannelInventory"),
        {"input": {"sku": "SKU-1", "channelCode": code, "allocatedQuantity": quantity}},
    )


async def test_a_recent_allocation_is_not_unsold_yet(admin: Client) -> None:
    await shop(admin)
    await allocate_to(admin, "POS", 40)
    result = await admin.mutate(
        "reallocateUnsoldInventory", REALLOCATE, {"input": {"thresholdDays": 30}}
    )
    assert result["moves"] == []


async def test_allocating_needs_the_allocation_permission(
    admin: Client, storefront: Client
) -> None:
    await shop(admin)
    caller = storefront
    result = await caller(ALLOCATE, {"input": {"skus": ["SKU-1"], "strategy": "EQUAL"}})
    assert [e["code"] for e in result["allocateInventoryToChannels"]["errors"]] == ["FORBIDDEN"]
    moved = await caller(REALLOCATE, {"input": {}})
    assert [e["code"] for e in moved["reallocateUnsoldInventory"]["errors"]] == ["FORBIDDEN"]


async def test_velocity_leaves_unallocated_what_no_channel_is_expected_to_sell(
    admin: Client, storefront: Client
) -> None:
    """The rule the README states: VELOCITY allocates each channel its days of supply; the
    rest stays unallocated, and a channel with an allocation sells only within it (one
    allocated 0 sells nothing) until the next allocation."""
    await shop(admin, stock=90)
    await sell(storefront, "WEBSITE", 20, days_ago=2)  # 20 in 30 days: 9.3 for 14 days
    result = await admin.mutate(
        "allocateInventoryToChannels",
        ALLOCATE,
        {"input": {"skus": ["SKU-1"], "strategy": "VELOCITY"}},
    )
    allocated = by_channel(result)
    assert allocated["POS"] == (0, 0)
    assert allocated["AMAZON"] == (0, 0)
    website, buffer = allocated["WEBSITE"]
    assert 0 < website < 70  # of the 70 on hand now
    sellable = await storefront(
        '{ channelInventory(channelCode: "WEBSITE", skus: ["SKU-1"]) '
        "{ availableToSell physicalAvailable } }"
    )
    [row] = sellable["channelInventory"]
    assert row == {"availableToSell": website - buffer, "physicalAvailable": 70}
    for code in ("AMAZON", "POS"):
        found = await storefront(
            f'{{ channelInventory(channelCode: "{code}", skus: ["SKU-1"]) {{ availableToSell }} }}'
        )
        assert found["channelInventory"] == [{"availableToSell": 0}], code
