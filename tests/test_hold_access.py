"""Who may end whose holds (release, extend, convert to an order, fulfil), over real HTTP:

- a token bound to a channel (a CONNECTOR, a STOREFRONT made with `--channel`): only that
  channel's holds; another's named by id is FORBIDDEN, by reference it finds only its own;
- an unbound STOREFRONT: holds of live (REALTIME) channels and holds of no channel, never a
  marketplace (BATCH) channel's, which belong to its connector;
- operators and admins: any (a transfer order's holds excepted: test_transfer_orders.py).

A refused change changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from support import factories
from support.channels import channel, check_invariants, reserve
from support.client import Client

CHANGES = {
    "releaseReservation": "ReleaseReservationInput",
    "extendReservation": "ExtendReservationInput",
    "convertToOrderReservation": "ConvertToOrderReservationInput",
    "fulfillReservation": "FulfillReservationInput",
}


async def change(client: Client, field: str, **values: Any) -> list[str]:
    """The error codes of one reservation change (none: it was made)."""
    body = await client(
        f"mutation($input: {CHANGES[field]}!) {{ {field}(input: $input)"
        " { reservations { id } errors { code } } }",
        {"input": values},
    )
    return [e["code"] for e in body[field]["errors"]]


async def holds(storefront: Client, operator: Client, amazon: Client) -> dict[str, str]:
    """Carts on WEBSITE and POS (live channels), a cart and an order on AMAZON (a
    marketplace, made by its connector) and a hold of no channel: their ids by reference."""
    made = {
        "c-web": await reserve(storefront, sku="SKU-1", quantity=2, channelCode="WEBSITE"),
        "c-pos": await reserve(storefront, sku="SKU-1", quantity=2, channelCode="POS"),
        "c-amz": await reserve(amazon, sku="SKU-1", quantity=2),
        "o-amz": await reserve(amazon, sku="SKU-1", quantity=2, type="ORDER"),
        "walk-in": await reserve(operator, sku="SKU-1", quantity=2, warehouseCode="DC-1"),
    }
    ids = {}
    for reference, payload in made.items():
        assert payload["errors"] == [], (reference, payload)
        ids[reference] = payload["reservation"]["id"]
    return ids


async def world(admin: Client, connector: Any) -> Client:
    """SKU-1 at DC-1, sold by WEBSITE and POS (REALTIME) and AMAZON (BATCH); AMAZON's
    connector."""
    await factories.stocked(admin, "SKU-1", {"DC-1": 50})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    await channel(admin, "POS", ["DC-1"], safetyBufferPercent=0)
    await channel(admin, "AMAZON", ["DC-1"], kind="BATCH", safetyBufferPercent=0)
    amazon: Client = await connector("AMAZON")
    return amazon


async def rows(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT id, type, status, reference_id, fulfilled_quantity, expires_at"
                " FROM reservations ORDER BY id"
            )
        )
        return [tuple(row) for row in found]


async def refused(client: Client, engine: AsyncEngine, field: str, **values: Any) -> list[str]:
    """The codes of a change that must be refused, having checked it changed nothing."""
    before = await rows(engine)
    codes = await change(client, field, **values)
    assert await rows(engine) == before, (field, values)
    return codes


async def with_reference(client: Client, reference: str, sku: str = "SKU-1", **values: Any) -> str:
    made = await reserve(client, sku=sku, quantity=1, referenceId=reference, **values)
    assert made["errors"] == [], made
    return str(made["reservation"]["id"])


async def test_an_unbound_storefront_ends_live_channels_holds_but_never_a_connectors(
    admin: Client, storefront: Client, operator: Client, connector: Any, engine: AsyncEngine
) -> None:
    amazon = await world(admin, connector)
    ids = await holds(storefront, operator, amazon)
    await with_reference(amazon, "amz-cart")
    amazon_order = await with_reference(amazon, "amz-order", type="ORDER")

    for field, values in (
        ("releaseReservation", {"id": ids["o-amz"]}),
        ("releaseReservation", {"referenceId": "amz-order"}),
        ("fulfillReservation", {"id": amazon_order}),
        ("fulfillReservation", {"referenceId": "amz-order"}),
        ("extendReservation", {"id": ids["c-amz"], "extendBySeconds": 600}),
        ("convertToOrderReservation", {"cartId": "amz-cart", "orderId": "o-1"}),
    ):
        assert await refused(storefront, engine, field, **values) == ["FORBIDDEN"], field

    # Live channels' holds and holds of no channel it ends as before.
    web_cart = await with_reference(storefront, "web-cart", channelCode="WEBSITE")
    assert await change(storefront, "extendReservation", id=web_cart, extendBySeconds=600) == []
    converted = "convertToOrderReservation"
    assert await change(storefront, converted, cartId="web-cart", orderId="web-order") == []
    assert await change(storefront, "fulfillReservation", referenceId="web-order") == []
    assert await change(storefront, "releaseReservation", id=ids["c-pos"]) == []
    assert await change(storefront, "releaseReservation", id=ids["walk-in"]) == []
    # The connector, and an operator, end the marketplace's holds.
    assert await change(amazon, "fulfillReservation", id=amazon_order) == []
    assert await change(operator, "releaseReservation", id=ids["o-amz"]) == []
    await check_invariants(engine)


async def test_a_storefront_bound_to_its_channel_ends_only_that_channels_holds(
    admin: Client,
    storefront: Client,
    operator: Client,
    connector: Any,
    bound: Any,
    engine: AsyncEngine,
) -> None:
    amazon = await world(admin, connector)
    ids = await holds(storefront, operator, amazon)
    web: Client = await bound(Role.STOREFRONT, "WEBSITE")
    await with_reference(storefront, "pos-cart", channelCode="POS")

    # Another channel's holds, or a hold of no channel: FORBIDDEN by id.
    for reservation in (ids["c-pos"], ids["c-amz"], ids["walk-in"]):
        for field, values in (
            ("releaseReservation", {"id": reservation}),
            ("extendReservation", {"id": reservation, "extendBySeconds": 600}),
            ("fulfillReservation", {"id": reservation}),
        ):
            assert await refused(web, engine, field, **values) == ["FORBIDDEN"], field
    # By reference it finds only its own channel's.
    assert await refused(web, engine, "releaseReservation", referenceId="pos-cart") == ["NOT_FOUND"]
    assert await refused(
        web, engine, "convertToOrderReservation", cartId="pos-cart", orderId="o-2"
    ) == ["NOT_FOUND"]

    # Its own channel's: every change. It reserves there by default.
    own = await with_reference(web, "bound-cart")
    assert await change(web, "extendReservation", id=own, extendBySeconds=600) == []
    assert await change(web, "convertToOrderReservation", cartId="bound-cart", orderId="bo") == []
    assert await change(web, "fulfillReservation", referenceId="bo") == []
    assert await change(web, "releaseReservation", id=ids["c-web"]) == []
    await check_invariants(engine)


async def test_a_connector_ends_only_its_own_channels_holds(
    admin: Client, storefront: Client, operator: Client, connector: Any, engine: AsyncEngine
) -> None:
    amazon = await world(admin, connector)
    ids = await holds(storefront, operator, amazon)
    await with_reference(storefront, "web-cart", channelCode="WEBSITE")
    web_order = await with_reference(storefront, "web-order", channelCode="WEBSITE", type="ORDER")

    for reservation in (ids["c-web"], web_order, ids["walk-in"]):
        for field, values in (
            ("releaseReservation", {"id": reservation}),
            ("extendReservation", {"id": reservation, "extendBySeconds": 600}),
            ("fulfillReservation", {"id": reservation}),
        ):
            assert await refused(amazon, engine, field, **values) == ["FORBIDDEN"], field
    for field, values in (
        ("releaseReservation", {"referenceId": "web-cart"}),
        ("fulfillReservation", {"referenceId": "web-order"}),
        ("convertToOrderReservation", {"cartId": "web-cart", "orderId": "o-3"}),
    ):
        assert await refused(amazon, engine, field, **values) == ["NOT_FOUND"], field

    assert await change(amazon, "extendReservation", id=ids["c-amz"], extendBySeconds=600) == []
    assert await change(amazon, "fulfillReservation", id=ids["o-amz"]) == []
    await check_invariants(engine)
