"""reservationChanged over WebSocket (every kind, filters, replay, a connector's scope) and the
channel filter of inventoryUpdated."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from support import factories
from support.channels import channel, check_invariants, reserve
from support.client import Client, operation
from support.ws import Subscriber

CHANGED = """
subscription($ref: String, $channel: String, $skus: [String!], $after: Long) {
  reservationChanged(referenceId: $ref, channelCode: $channel, skus: $skus, after: $after) {
    sequence kind type status quantity fulfilledQuantity referenceId cartId actor version
    reservationId reservation { id status } product { sku } warehouse { code } channel { code }
  }
}"""
UPDATED = """
subscription($channelCode: String, $channelId: ID, $skus: [String!]) {
  inventoryUpdated(channelCode: $channelCode, channelId: $channelId, skus: $skus) {
    sequence newQuantity warehouse { code }
  }
}"""
ADJUST = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) { inventoryLevel { quantity } errors { code message } }
}"""


async def world(admin: Client) -> None:
    await factories.stocked(admin, "RC-1", {"DC-1": 20, "DC-2": 20})
    await factories.stocked(admin, "RC-2", {"DC-1": 20})
    await channel(admin, "WEB", ["DC-1"])
    await channel(admin, "MARKET", ["DC-2"])


async def changes(subscriber: Subscriber, count: int) -> list[dict[str, Any]]:
    return [(await subscriber.next())["data"]["reservationChanged"] for _ in range(count)]


async def adjust(client: Client, sku: str, code: str, delta: int) -> None:
    await client.mutate(
        "adjustInventory",
        ADJUST,
        {"input": {"sku": sku, "warehouseCode": code, "adjustment": delta, "reason": "RECEIPT"}},
    )


async def test_every_kind_of_reservation_change_arrives_with_its_sequence(
    admin: Client, storefront: Client, base_url: str, tokens: dict[Role, str], engine: AsyncEngine
) -> None:
    await world(admin)
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        await subscriber.subscribe(CHANGED, {"skus": ["RC-1"]})
        cart = await reserve(
            storefront, sku="RC-1", quantity=2, referenceId="cart-9", channelCode="WEB"
        )
        other = await reserve(
            storefront, sku="RC-1", quantity=1, referenceId="cart-8", channelCode="WEB"
        )
        await storefront.mutate(
            "releaseReservation",
            operation("ReleaseReservation"),
            {"id": other["reservation"]["id"]},
        )
        await storefront.mutate(
            "convertToOrderReservation",
            operation("ConvertToOrderReservation"),
            {"cartId": "cart-9", "orderId": "order-9"},
        )
        await storefront.mutate(
            "fulfillReservation",
            operation("FulfillReservation"),
            {"input": {"id": cart["reservation"]["id"]}},
        )
        seen = await changes(subscriber, 5)
    assert [(e["kind"], e["referenceId"]) for e in seen] == [
        ("CREATED", "cart-9"),
        ("CREATED", "cart-8"),
        ("RELEASED", "cart-8"),
        ("CONVERTED", "order-9"),
        ("FULFILLED", "order-9"),
    ]
    sequences = [e["sequence"] for e in seen]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 5
    created, _, released, converted, fulfilled = seen
    assert (created["type"], created["status"]) == ("CART", "ACTIVE")
    assert created["product"] == {"sku": "RC-1"}
    assert created["warehouse"] == {"code": "DC-1"}
    assert created["channel"] == {"code": "WEB"}
    assert created["actor"] == "test-storefront"
    assert created["reservationId"] == cart["reservation"]["id"]
    assert released["status"] == "RELEASED"
    assert (converted["type"], converted["cartId"]) == ("ORDER", "cart-9")
    assert (fulfilled["status"], fulfilled["fulfilledQuantity"]) == ("FULFILLED", 2)
    await check_invariants(engine)


async def test_reference_filter_and_replay_after_a_sequence(
    admin: Client, storefront: Client, base_url: str, tokens: dict[Role, str]
) -> None:
    await world(admin)
    token = tokens[Role.STOREFRONT]
    async with Subscriber(base_url, token) as subscriber:
        await subscriber.subscribe(CHANGED, {"ref": "cart-1"})
        await reserve(storefront, sku="RC-2", quantity=1, referenceId="cart-2", channelCode="WEB")
        await reserve(storefront, sku="RC-1", quantity=1, referenceId="cart-1", channelCode="WEB")
        [first] = await changes(subscriber, 1)
        await subscriber.ready()  # cart-2's event was filtered out
    assert first["referenceId"] == "cart-1"
    # Missed while disconnected: the conversion matches by its cart id too.
    await reserve(storefront, sku="RC-1", quantity=3, referenceId="cart-1", channelCode="WEB")
    await storefront.mutate(
        "convertToOrderReservation",
        operation("ConvertToOrderReservation"),
        {"cartId": "cart-1", "orderId": "order-1"},
    )
    async with Subscriber(base_url, token) as subscriber:
        await subscriber.subscribe(CHANGED, {"ref": "cart-1", "after": first["sequence"]})
        missed = await changes(subscriber, 3)
        await subscriber.ready()
    assert [e["kind"] for e in missed] == ["CREATED", "CONVERTED", "CONVERTED"]
    assert all(e["sequence"] > first["sequence"] for e in missed)


async def test_a_connector_sees_only_its_own_channels_reservations(
    admin: Client, storefront: Client, base_url: str, connector: Any
) -> None:
    await world(admin)
    market = await connector("MARKET")
    async with Subscriber(base_url, market.token) as subscriber:
        await subscriber.subscribe(CHANGED, {})
        await reserve(storefront, sku="RC-1", quantity=1, referenceId="web-1", channelCode="WEB")
        await reserve(market, sku="RC-1", quantity=1, referenceId="mkt-1", type="ORDER")
        [event] = await changes(subscriber, 1)
        await subscriber.ready()
    assert (event["referenceId"], event["channel"]) == ("mkt-1", {"code": "MARKET"})
    # Naming another channel is refused.
    async with Subscriber(base_url, market.token) as subscriber:
        [error] = await subscriber.refused(CHANGED, {"channel": "WEB"})
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_inventory_updated_filtered_by_channel_shows_only_its_warehouses(
    admin: Client, base_url: str, tokens: dict[Role, str]
) -> None:
    await world(admin)
    found = await admin('query { channel(code: "MARKET") { id } }')
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        await subscriber.subscribe(UPDATED, {"channelCode": "WEB"})
        await subscriber.subscribe(UPDATED, {"channelId": found["channel"]["id"]})
        await adjust(admin, "RC-1", "DC-2", 1)  # MARKET's warehouse
        await adjust(admin, "RC-1", "DC-1", 2)  # WEB's warehouse
        # Events of the setup may still be arriving: read until both adjustments came.
        seen: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
        while not (
            any(e["newQuantity"] == 22 for e in seen["1"])
            and any(e["newQuantity"] == 21 for e in seen["2"])
        ):
            message = await subscriber.receive()
            seen[message["id"]].append(message["payload"]["data"]["inventoryUpdated"])
    assert {e["warehouse"]["code"] for e in seen["1"]} == {"DC-1"}
    assert {e["warehouse"]["code"] for e in seen["2"]} == {"DC-2"}


async def test_inventory_updated_with_an_unknown_channel_is_refused(
    base_url: str, tokens: dict[Role, str]
) -> None:
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        [error] = await subscriber.refused(UPDATED, {"channelCode": "NOPE"})
    assert "NOPE" in error["message"]
