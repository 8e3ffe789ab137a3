"""Routing: the seed's warehouse score, one warehouse that can ship everything, else the
smallest split; fulfillmentPlan and reservations without a warehouse."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.errors import DomainError
from onhand.inventory.routing.planning import Destination, Line, Site, haversine_km, plan, score
from support import factories
from support.channels import channel, check_invariants, reserve
from support.client import Client, operation

DALLAS = (32.7767, -96.7970)
NEWARK = (40.7357, -74.1724)
RENO = (39.5296, -119.8138)
NEW_YORK = Destination(40.7128, -74.0060)
SAN_FRANCISCO = Destination(37.7749, -122.4194)


def test_haversine_distances() -> None:
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.01)
    assert haversine_km(*DALLAS, *NEWARK) == pytest.approx(2193, abs=1)


def test_the_seeds_score() -> None:
    site = Site(1, *DALLAS, priority=1, utilization=0.25)
    distance = haversine_km(*DALLAS, NEW_YORK.latitude, NEW_YORK.longitude)  # type: ignore[arg-type]
    assert distance == pytest.approx(2206, abs=1)
    # 100 - distance / 100 + min(30, 2 x 10) + 1 x 2 + (1 - 0.25) x 20
    assert score(site, NEW_YORK, 2.0) == pytest.approx(100 - distance / 100 + 20 + 2 + 15)
    far = Site(2, -33.87, 151.21, priority=50, utilization=2.0)
    # Distance costs at most 30, availability gives at most 30, priority at most 20.
    assert score(far, NEW_YORK, 10.0) == pytest.approx(100 - 30 + 30 + 20 + 0)
    assert score(Site(3, None, None, 0), NEW_YORK, 1.0) == pytest.approx(100 - 30 + 10 + 20)
    assert score(Site(3, None, None, 0), Destination(), 1.0) == pytest.approx(100 + 10 + 20)


SITES = [Site(1, *DALLAS, 1), Site(2, *NEWARK, 1), Site(3, *RENO, 1)]


def shipments(result: Any) -> list[tuple[int, list[tuple[int, int]]]]:
    return [
        (s.warehouse_id, [(p.product_id, p.quantity) for p in s.picks]) for s in result.shipments
    ]


def test_the_nearest_warehouse_that_can_ship_everything_wins() -> None:
    stock = {(10, w): 20 for w in (1, 2, 3)}
    assert shipments(plan([Line(10, 5)], SITES, stock, NEW_YORK)) == [(2, [(10, 5)])]
    assert shipments(plan([Line(10, 5)], SITES, stock, SAN_FRANCISCO)) == [(3, [(10, 5)])]
    # Newark cannot ship it all: Dallas, closer than Reno, can.
    short = {**stock, (10, 2): 4}
    assert shipments(plan([Line(10, 5)], SITES, short, NEW_YORK)) == [(1, [(10, 5)])]


def test_without_a_destination_availability_priority_and_idle_capacity_decide() -> None:
    sites = [Site(1, *DALLAS, 0, 0.9), Site(2, *NEWARK, 0, 0.0), Site(3, *RENO, 5, 0.0)]
    stock = {(10, 1): 100, (10, 2): 10, (10, 3): 10}
    # Reno: priority 5 is worth 10 points; Dallas's stock ratio only 9 more than the others.
    assert shipments(plan([Line(10, 5)], sites, stock)) == [(3, [(10, 5)])]


def test_one_warehouse_for_the_whole_order_beats_a_nearer_split() -> None:
    stock = {(10, 2): 3, (11, 1): 3, (10, 3): 3, (11, 3): 3}
    result = plan([Line(10, 3), Line(11, 3)], SITES, stock, NEW_YORK)
    assert shipments(result) == [(3, [(10, 3), (11, 3)])]
    assert not result.split


def test_a_split_uses_as_few_warehouses_as_possible() -> None:
    sites = [*SITES, Site(4, *NEWARK, 0)]
    stock = {(10, 1): 10, (10, 2): 5, (11, 2): 5, (11, 3): 5, (10, 4): 1, (11, 4): 1}
    result = plan([Line(10, 10), Line(11, 5)], sites, stock, NEW_YORK)
    assert result.split
    assert len(result.shipments) == 2
    shipped: dict[int, int] = {}
    for _, picks in shipments(result):
        for product, quantity in picks:
            shipped[product] = shipped.get(product, 0) + quantity
    assert shipped == {10: 10, 11: 5}


def test_an_order_no_combination_can_ship_is_insufficient_stock_by_line() -> None:
    stock = {(10, 1): 2, (10, 2): 2, (11, 3): 9}
    with pytest.raises(DomainError) as refused:
        plan([Line(11, 1, "lines.0.quantity"), Line(10, 5, "lines.1.quantity")], SITES, stock)
    [problem] = refused.value.problems
    assert (problem.field, problem.details) == (
        "lines.1.quantity",
        {"available": 4, "requested": 5},
    )


async def network(admin: Client) -> None:
    for code, (lat, lon) in (("DC-DAL", DALLAS), ("WH-EAST", NEWARK), ("WH-WEST", RENO)):
        await factories.warehouse(admin, code, address={"latitude": lat, "longitude": lon})
    await factories.stocked(admin, "SKU-1", {"DC-DAL": 10, "WH-EAST": 10, "WH-WEST": 4})
    await factories.stocked(admin, "SKU-2", {"WH-WEST": 10})


async def test_fulfillment_plan_query(admin: Client, storefront: Client) -> None:
    await network(admin)
    near_nyc = await storefront(
        operation("FulfillmentPlan"),
        {
            "input": {
                "lines": [{"sku": "SKU-1", "quantity": 4}],
                "shippingAddress": {"latitude": 40.71, "longitude": -74.0},
            }
        },
    )
    [shipment] = near_nyc["fulfillmentPlan"]["shipments"]
    assert shipment["warehouse"] == {"code": "WH-EAST"}
    assert shipment["distanceKm"] == pytest.approx(14, abs=1)
    assert near_nyc["fulfillmentPlan"]["split"] is False
    both = await storefront(
        operation("FulfillmentPlan"),
        {"input": {"lines": [{"sku": "SKU-1", "quantity": 4}, {"sku": "SKU-2", "quantity": 1}]}},
    )
    # Only Reno has both.
    assert [s["warehouse"]["code"] for s in both["fulfillmentPlan"]["shipments"]] == ["WH-WEST"]
    split = await storefront(
        operation("FulfillmentPlan"),
        {"input": {"lines": [{"sku": "SKU-1", "quantity": 13}, {"sku": "SKU-2", "quantity": 1}]}},
    )
    # Only Reno has SKU-2, and 4 of SKU-1: one more warehouse makes up the rest.
    assert split["fulfillmentPlan"]["split"] is True
    shipped = [
        (s["warehouse"]["code"], [(ln["product"]["sku"], ln["quantity"]) for ln in s["lines"]])
        for s in split["fulfillmentPlan"]["shipments"]
    ]
    assert len(shipped) == 2
    assert ("SKU-2", 1) in dict(shipped)["WH-WEST"]
    assert sum(q for _, lines in shipped for sku, q in lines if sku == "SKU-1") == 13
    three = await storefront(
        operation("FulfillmentPlan"),
        {"input": {"lines": [{"sku": "SKU-1", "quantity": 15}, {"sku": "SKU-2", "quantity": 1}]}},
    )
    assert len(three["fulfillmentPlan"]["shipments"]) == 3
    refused = await storefront.raw(
        operation("FulfillmentPlan"), {"input": {"lines": [{"sku": "SKU-1", "quantity": 25}]}}
    )
    [error] = refused["errors"]
    assert error["extensions"] == {"code": "INSUFFICIENT_STOCK", "field": "lines.0.quantity"}


async def test_a_plan_for_a_channel_uses_its_warehouses_within_its_availability(
    admin: Client, storefront: Client
) -> None:
    await network(admin)
    await channel(admin, "WEBSITE", ["DC-DAL", "WH-WEST"], safetyBufferPercent=0)
    result = await storefront(
        operation("FulfillmentPlan"),
        {
            "input": {
                "channelCode": "WEBSITE",
                "lines": [{"sku": "SKU-1", "quantity": 2}],
                "shippingAddress": {"latitude": 40.71, "longitude": -74.0},
            }
        },
    )
    assert [s["warehouse"]["code"] for s in result["fulfillmentPlan"]["shipments"]] == ["DC-DAL"]
    refused = await storefront.raw(
        operation("FulfillmentPlan"),
        {"input": {"channelCode": "WEBSITE", "lines": [{"sku": "SKU-1", "quantity": 15}]}},
    )
    assert refused["errors"][0]["extensions"]["code"] == "INSUFFICIENT_STOCK"


async def test_a_reservation_without_a_warehouse_is_routed(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await network(admin)
    await channel(admin, "WEBSITE", ["DC-DAL", "WH-EAST", "WH-WEST"], safetyBufferPercent=0)
    west = await reserve(
        storefront,
        sku="SKU-1",
        quantity=3,
        channelCode="WEBSITE",
        shippingAddress={"latitude": 37.77, "longitude": -122.42},
    )
    assert west["reservation"]["warehouse"] == {"code": "WH-WEST"}
    east = await reserve(
        storefront,
        sku="SKU-1",
        quantity=3,
        channelCode="WEBSITE",
        shippingAddress={"latitude": 40.71, "longitude": -74.0},
    )
    assert east["reservation"]["warehouse"] == {"code": "WH-EAST"}
    # More than any one warehouse has: split over as few as possible.
    split = await reserve(storefront, sku="SKU-1", quantity=15, channelCode="WEBSITE")
    assert split["errors"] == []
    held = sorted((r["warehouse"]["code"], r["quantity"]) for r in split["reservations"])
    assert len(held) == 2
    assert sum(quantity for _, quantity in held) == 15
    await check_invariants(engine)
