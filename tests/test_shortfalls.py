"""Shortfalls are never silent: a cart or an order reserved only in part publishes a SHORTFALL
event per short line (product, warehouse or channel, requested, reserved, missing), and an
order's raises an ORDER_SHORTFALL alert."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from support import channels, factories
from support.alerts import settled
from support.client import Client
from support.receiver import Receiver
from support.server import serving
from support.waiting import until as eventually
from support.webhooks import webhook

CART = """
mutation($input: ReserveCartInput!) {
  reserveCart(input: $input) {
    success
    reservations { quantity product { sku } }
    failures { line requestedQuantity availableQuantity }
    errors { field code }
  }
}"""
SHORTFALLS = """
query($after: Long!) {
  inventoryChanges(after: $after, first: 50, topics: [SHORTFALL]) {
    events {
      __typename
      ... on Shortfall {
        reservationType referenceId line requested reserved missing available reason pickup
        productId warehouseId channelId
        product { sku } warehouse { code } channel { code }
      }
    }
  }
}"""
ALERTS = """
query($kind: [AlertKind!]) {
  alerts(filter: {kind: $kind}, first: 20) {
    nodes { id kind severity status quantity message details product { sku } channel { code } }
  }
}"""


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    with serving(endpoint.app()) as url:
        yield endpoint, f"{url}/hook"


async def shop(admin: Client) -> dict[str, Any]:
    """WEB sells from DC-1 and STORE-1 (a pickup location), without buffer. A: 5 at DC-1;
    B: 1 at DC-1, 2 at STORE-1."""
    a = await factories.stocked(admin, "SF-A", {"DC-1": 5})
    b = await factories.stocked(admin, "SF-B", {"DC-1": 1, "STORE-1": 2})
    await admin(
        'mutation { updateWarehouse(input: {warehouseCode: "STORE-1",'
        " capabilities: [PICKUP]}) { errors { code } } }"
    )
    channel = await channels.channel(admin, "WEB", ["DC-1", "STORE-1"], safetyBufferPercent=0)
    return {"A": a, "B": b, "WEB": channel["id"]}


async def latest(client: Client) -> int:
    return int((await client("{ latestSequence }"))["latestSequence"])


async def until(read: Callable[[], Any], ready: Callable[[Any], bool], seconds: float = 15) -> Any:
    async with asyncio.timeout(seconds):
        while True:
            found = await read()
            if ready(found):
                return found
            await asyncio.sleep(0.05)


async def shortfalls(client: Client, after: int, count: int) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        data = await client(SHORTFALLS, {"after": after})
        return list(data["inventoryChanges"]["events"])

    return list(await until(read, lambda found: len(found) >= count))


async def test_a_partly_reserved_cart_names_what_each_short_line_misses(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    ids = await shop(admin)
    start = await latest(admin)
    # All or nothing: refused whole, nothing reserved, so nothing is short.
    refused = await storefront(
        CART,
        {
            "input": {
                "referenceId": "cart-0",
                "channelCode": "WEB",
                "lines": [{"sku": "SF-A", "quantity": 1}, {"sku": "SF-B", "quantity": 9}],
            }
        },
    )
    assert refused["reserveCart"]["errors"][0]["code"] == "INSUFFICIENT_STOCK"
    made = await storefront(
        CART,
        {
            "input": {
                "referenceId": "cart-1",
                "channelCode": "WEB",
                "allowPartial": True,
                "lines": [
                    {"sku": "SF-A", "quantity": 4},
                    {"sku": "SF-B", "quantity": 5},
                    {"sku": "SF-A", "quantity": 3},
                ],
            }
        },
    )
    cart = made["reserveCart"]
    assert cart["success"] is False
    assert [f["line"] for f in cart["failures"]] == [1, 2]
    # A cart reserved whole is not short either.
    whole = await storefront(
        CART,
        {
            "input": {
                "referenceId": "cart-2",
                "channelCode": "WEB",
                "lines": [{"sku": "SF-B", "quantity": 1}],
            }
        },
    )
    assert whole["reserveCart"]["success"] is True
    found = await shortfalls(admin, start, 2)
    assert [e["__typename"] for e in found] == ["Shortfall", "Shortfall"]
    by_line = {e["line"]: e for e in found}
    b = by_line[1]
    assert (b["reservationType"], b["referenceId"], b["product"]["sku"]) == (
        "CART",
        "cart-1",
        "SF-B",
    )
    assert (b["requested"], b["reserved"], b["missing"], b["available"]) == (5, 0, 5, 3)
    assert (b["productId"], b["channelId"], b["channel"]["code"]) == (
        ids["B"]["product"],
        ids["WEB"],
        "WEB",
    )
    # Routing was to choose the warehouse: the channel names where it was short.
    assert (b["warehouseId"], b["warehouse"], b["pickup"]) == (None, None, False)
    a = by_line[2]  # the second line of A: 4 of 5 went to the first
    assert (a["requested"], a["missing"], a["available"]) == (3, 3, 1)
    assert "insufficient stock" in a["reason"]
    # A cart's shortfall raises no alert (only orders do).
    await settled(engine)
    assert (await admin(ALERTS, {"kind": ["ORDER_SHORTFALL"]}))["alerts"]["nodes"] == []


async def test_an_order_reserved_in_part_raises_one_alert_per_order_and_product(
    admin: Client, operator: Client, engine: AsyncEngine, receiver: tuple[Receiver, str]
) -> None:
    await shop(admin)
    endpoint, url = receiver
    await webhook(admin, url, ["SHORTFALL"])
    start = await latest(admin)
    order = {
        "referenceId": "order-77",
        "type": "ORDER",
        "channelCode": "WEB",
        "allowPartial": True,
        "pickupLocationCode": "STORE-1",
        "lines": [{"sku": "SF-B", "quantity": 3}],
    }
    first = await operator(CART, {"input": order})
    assert first["reserveCart"]["failures"][0]["availableQuantity"] == 2
    [event] = await shortfalls(admin, start, 1)
    # Held for pickup at STORE-1 only: the warehouse is named.
    assert (event["reservationType"], event["warehouse"]["code"], event["pickup"]) == (
        "ORDER",
        "STORE-1",
        True,
    )
    assert (event["requested"], event["reserved"], event["missing"]) == (3, 0, 3)
    [alert] = (
        await until(
            lambda: admin(ALERTS, {"kind": ["ORDER_SHORTFALL"]}),
            lambda data: bool(data["alerts"]["nodes"]),
        )
    )["alerts"]["nodes"]
    assert (alert["severity"], alert["status"], alert["quantity"]) == ("HIGH", "OPEN", 3)
    assert (alert["product"]["sku"], alert["channel"]["code"]) == ("SF-B", "WEB")
    assert alert["details"]["referenceId"] == "order-77"
    assert "order-77" in alert["message"]
    assert "SF-B" in alert["message"]
    # The same order short again on the same product: still one open alert.
    again = await operator(CART, {"input": order})
    assert again["reserveCart"]["failures"]
    await shortfalls(admin, start, 2)
    await settled(engine)
    listed = (await admin(ALERTS, {"kind": ["ORDER_SHORTFALL"]}))["alerts"]["nodes"]
    assert [a["id"] for a in listed] == [alert["id"]]
    # Nothing clears it by itself: an operator resolves it.
    resolved = await admin(
        "mutation($id: ID!) { resolveAlert(input: {alertId: $id}) { alert { status }"
        " errors { code } } }",
        {"id": alert["id"]},
    )
    assert resolved["resolveAlert"]["alert"]["status"] == "RESOLVED"
    # Webhooks are sent each event, in the API's names and ids.
    await eventually(lambda: len(endpoint.succeeded()) >= 2, "both SHORTFALL events delivered")
    bodies = [r.body for r in endpoint.succeeded()]
    assert {b["topic"] for b in bodies} == {"SHORTFALL"}
    data = bodies[0]["data"]
    assert (data["referenceId"], data["missing"], data["reservationType"]) == (
        "order-77",
        3,
        "ORDER",
    )
    assert (data["warehouseId"], data["productId"]) == (event["warehouseId"], event["productId"])
