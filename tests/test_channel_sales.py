"""Channel sales from the ledger: productSalesByChannel (a product's units sold per channel in a
window, the history PROPORTIONAL allocation reads) and channelsWithExcess (the unsold
allocations reallocateUnsoldInventory would take)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import age_allocation, channel, check_invariants, reserve, sell
from support.client import Client, operation

SALES = operation("ProductSalesByChannel")
EXCESS = operation("ChannelsWithExcess")
BY_SKU = """
query($sku: String, $period: SalesPeriod, $since: DateTime, $until: DateTime) {
  productSalesByChannel(sku: $sku, period: $period, since: $since, until: $until) {
    channel { code } quantity
  }
}"""


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def shop(admin: Client) -> dict[str, Any]:
    ids = await factories.stocked(admin, "SKU-1", {"DC-1": 1000})
    await factories.stocked(admin, "SKU-2", {"DC-1": 100})
    await channel(admin, "WEBSITE", ["DC-1"], priority=1, safetyBufferPercent=0)
    await channel(admin, "AMAZON", ["DC-1"], priority=2, safetyBufferPercent=0)
    await channel(admin, "POS", ["DC-1"], priority=0, safetyBufferPercent=0)
    return ids


def by_channel(found: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(s["channel"]["code"], s["quantity"]) for s in found]


@pytest.fixture
async def history(admin: Client, storefront: Client) -> dict[str, Any]:
    """SKU-1 sold on WEBSITE 60 (3 days ago), AMAZON 30 (29 days), POS 10 (1 day) and 200
    (45 days); 5 sold with no channel, and SKU-2 on WEBSITE: neither counts for SKU-1."""
    ids = await shop(admin)
    await sell(storefront, "WEBSITE", 60, days_ago=3)
    await sell(storefront, "AMAZON", 30, days_ago=29)
    await sell(storefront, "POS", 10, days_ago=1)
    await sell(storefront, "POS", 200, days_ago=45)
    await sell(storefront, "WEBSITE", 7, days_ago=1, sku="SKU-2")
    await admin.mutate(
        "adjustInventory",
        factories.ADJUST,
        {"input": {"sku": "SKU-1", "warehouseCode": "DC-1", "adjustment": -5, "reason": "SALE"}},
    )
    return ids


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param({}, [("WEBSITE", 60), ("AMAZON", 30), ("POS", 10)], id="default-30-days"),
        pytest.param(
            {"period": "LAST_30_DAYS"},
            [("WEBSITE", 60), ("AMAZON", 30), ("POS", 10)],
            id="last-30-days",
        ),
        pytest.param({"period": "LAST_7_DAYS"}, [("WEBSITE", 60), ("POS", 10)], id="last-7-days"),
        pytest.param(
            {"period": "LAST_90_DAYS"},
            [("POS", 210), ("WEBSITE", 60), ("AMAZON", 30)],
            id="last-90-days",
        ),
        pytest.param(
            {"since": ago(50), "until": ago(10)}, [("POS", 200), ("AMAZON", 30)], id="range"
        ),
        pytest.param({"since": ago(2)}, [("POS", 10)], id="since-until-now"),
        pytest.param({"since": ago(100), "until": ago(60)}, [], id="nothing-sold"),
    ],
)
async def test_units_sold_per_channel_in_a_window(
    operator: Client, history: dict[str, Any], window: dict[str, Any], expected: list[Any]
) -> None:
    found = await operator(SALES, {"productId": history["product"], **window})
    assert by_channel(found["productSalesByChannel"]) == expected
    by_sku = await operator(BY_SKU, {"sku": "SKU-1", **window})
    assert by_channel(by_sku["productSalesByChannel"]) == expected


async def test_the_sales_are_the_history_proportional_allocation_reads(
    admin: Client, history: dict[str, Any]
) -> None:
    """The guide's proportionalAllocation on productSalesByChannel(LAST_30_DAYS) gives what
    allocateInventoryToChannels(PROPORTIONAL) gives: both read the same sales."""
    sales = (await admin(SALES, {"productId": history["product"], "period": "LAST_30_DAYS"}))[
        "productSalesByChannel"
    ]
    total_sales = sum(s["quantity"] for s in sales)
    guide = {s["channel"]["code"]: 200 * s["quantity"] // total_sales for s in sales}
    allocated = await admin.mutate(
        "allocateInventoryToChannels",
        operation("AllocateInventoryToChannels"),
        {"input": {"skus": ["SKU-1"], "strategy": "PROPORTIONAL", "totalQuantity": 200}},
    )
    assert {a["channel"]["code"]: a["allocatedQuantity"] for a in allocated["allocations"]} == guide


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        pytest.param({}, ("productId", "REQUIRED"), id="no-product"),
        pytest.param({"sku": "NOPE"}, ("sku", "NOT_FOUND"), id="unknown-sku"),
        pytest.param(
            {"sku": "SKU-1", "period": "LAST_7_DAYS", "since": ago(3)},
            ("period", "INVALID"),
            id="period-and-range",
        ),
        pytest.param({"sku": "SKU-1", "until": ago(3)}, ("since", "INVALID"), id="until-alone"),
        pytest.param(
            {"sku": "SKU-1", "since": ago(3), "until": ago(4)},
            ("until", "INVALID"),
            id="until-before-since",
        ),
        pytest.param(
            {"sku": "SKU-1", "since": "2026-01-01T00:00:00"},
            ("since", "INVALID"),
            id="no-timezone",
        ),
    ],
)
async def test_bad_sales_windows_are_refused_naming_the_field(
    admin: Client, variables: dict[str, Any], expected: tuple[str, str]
) -> None:
    await shop(admin)
    body = await admin.raw(BY_SKU, variables)
    [error] = body["errors"]
    assert (error["extensions"]["field"], error["extensions"]["code"]) == expected
    assert body["data"] is None


async def test_sales_are_read_by_those_who_read_the_ledger(
    storefront: Client, operator: Client, history: dict[str, Any]
) -> None:
    denied = await storefront.raw(SALES, {"productId": history["product"]})
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    allowed = await operator(SALES, {"productId": history["product"]})
    assert allowed["productSalesByChannel"]


# -- channelsWithExcess ------------------------------------------------------------------------


async def allocate_to(admin: Client, code: str, quantity: int) -> None:
    await admin.mutate(
        "setChannelInventory",
        operation("SetChannelInventory"),
        {"input": {"sku": "SKU-1", "channelCode": code, "allocatedQuantity": quantity}},
    )


async def allocations(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT * FROM channel_inventory ORDER BY id"))
        return [dict(row) for row in found.mappings()]


@pytest.fixture
async def unsold(admin: Client, storefront: Client, engine: AsyncEngine) -> dict[str, Any]:
    """POS last sold SKU-1 45 days ago, was allocated 40 of it 40 days ago and holds 4 in a
    cart since; AMAZON and WEBSITE sell it (5 days ago) under allocations of 5 and 10."""
    ids = await shop(admin)
    await sell(storefront, "POS", 3, days_ago=45)
    await sell(storefront, "AMAZON", 60, days_ago=5)
    await sell(storefront, "WEBSITE", 30, days_ago=5)
    for code, quantity in (("POS", 40), ("AMAZON", 5), ("WEBSITE", 10)):
        await allocate_to(admin, code, quantity)
    await age_allocation(engine, "POS", 40)
    made = await reserve(storefront, sku="SKU-1", quantity=4, type="CART", channelCode="POS")
    assert made["errors"] == []
    return ids


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_channels_holding_allocation_they_did_not_sell(
    admin: Client, unsold: dict[str, Any]
) -> None:
    found = (await admin(EXCESS, {"thresholdDays": 30}))["channelsWithExcess"]
    [pos] = found
    assert (pos["channel"]["code"], pos["excessQuantity"]) == ("POS", 36)
    [product] = pos["excessProducts"]
    assert product["product"]["sku"] == "SKU-1"
    assert (product["allocatedQuantity"], product["heldQuantity"]) == (40, 4)
    assert product["excessQuantity"] == 36
    now = datetime.now(UTC)
    assert abs(when(product["allocatedSince"]) - (now - timedelta(days=40))) < timedelta(minutes=5)
    assert abs(when(product["lastSoldAt"]) - (now - timedelta(days=45))) < timedelta(minutes=5)
    # Allocated 40 days ago: not unsold for 50 days yet.
    assert (await admin(EXCESS, {"thresholdDays": 50}))["channelsWithExcess"] == []


async def test_the_excess_is_what_reallocation_takes(
    admin: Client, engine: AsyncEngine, unsold: dict[str, Any]
) -> None:
    before = await allocations(engine)
    listed = (await admin(EXCESS, {}))["channelsWithExcess"]
    assert await allocations(engine) == before  # the query moves nothing
    moved = await admin.mutate(
        "reallocateUnsoldInventory", operation("ReallocateUnsoldInventory"), {"input": {}}
    )
    sources = {m["fromChannel"]["code"] for m in moved["moves"]}
    assert sources == {c["channel"]["code"] for c in listed} == {"POS"}
    taken = sum(m["quantity"] for m in moved["moves"])
    assert 0 < taken <= listed[0]["excessQuantity"]
    # What was not needed elsewhere is still excess at POS.
    [pos] = (await admin(EXCESS, {}))["channelsWithExcess"]
    assert pos["excessProducts"][0]["allocatedQuantity"] == 40 - taken
    assert pos["excessQuantity"] == 36 - taken
    await check_invariants(engine)


async def test_excess_filters_by_product(admin: Client, unsold: dict[str, Any]) -> None:
    query = "query($skus: [String!]) { channelsWithExcess(skus: $skus) { excessQuantity } }"
    assert (await admin(query, {"skus": ["SKU-2"]}))["channelsWithExcess"] == []
    assert (await admin(query, {"skus": ["SKU-1"]}))["channelsWithExcess"] == [
        {"excessQuantity": 36}
    ]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param("thresholdDays: 0", ("thresholdDays", "INVALID"), id="zero-days"),
        pytest.param("thresholdDays: 366", ("thresholdDays", "INVALID"), id="too-many-days"),
        pytest.param('skus: ["NOPE"]', ("skus.0", "NOT_FOUND"), id="unknown-sku"),
        pytest.param('productIds: ["bogus"]', ("productIds.0", "INVALID_ID"), id="bad-id"),
    ],
)
async def test_bad_excess_arguments_are_refused_naming_the_field(
    admin: Client, arguments: str, expected: tuple[str, str]
) -> None:
    await shop(admin)
    body = await admin.raw(f"{{ channelsWithExcess({arguments}) {{ excessQuantity }} }}")
    [error] = body["errors"]
    assert (error["extensions"]["field"], error["extensions"]["code"]) == expected


async def test_excess_is_read_by_those_who_allocate(
    storefront: Client, operator: Client, unsold: dict[str, Any]
) -> None:
    denied = await storefront.raw(EXCESS, {})
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    assert len((await operator(EXCESS, {}))["channelsWithExcess"]) == 1
