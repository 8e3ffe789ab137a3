"""Reservations through the API: making them (one line, a cart, all or nothing or partial),
each state transition and every invalid one, idempotency, events, and the invariant that the
ledger and the active reservations explain every quantity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import channel, check_invariants, level, reserve, reserve_cart
from support.client import Client, operation

SHORT = "errors { field message code available requested }"


async def world(admin: Client, quantity: int = 10, **channel_values: Any) -> dict[str, Any]:
    """SKU-1 at DC-1 (and nothing else), sold by WEBSITE with no safety buffer."""
    ids = await factories.stocked(admin, "SKU-1", {"DC-1": quantity})
    made = await channel(admin, "WEBSITE", ["DC-1"], **{"safetyBufferPercent": 0, **channel_values})
    return {**ids, "channel": made["id"]}


async def movements(engine: AsyncEngine, reservation: str | None = None) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT type, reservation_id, channel_id, d_on_hand, d_reserved, d_committed,"
                " reason, reference_id FROM inventory_movements WHERE reservation_id IS NOT NULL"
                " ORDER BY id"
            )
        )
        return [dict(row._mapping) for row in rows]


async def events(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM outbox WHERE topic = 'RESERVATION_CHANGED' ORDER BY id")
        )
        return [row.payload for row in rows]


async def test_the_seeds_create_reservation_call_works_as_written(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    product = await factories.product(admin, "SKU-V", externalVariantId="gid://variant/77")
    warehouse = await factories.warehouse(admin, "DC-1")
    await factories.level(admin, product["id"], warehouse["id"], 10)
    expires = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)

    made = await reserve(
        storefront,
        productId=product["id"],
        variantId="gid://variant/77",
        quantity=3,
        type="CART",
        referenceId="cart-1",
        expiresAt=expires.isoformat(),
    )

    assert made["errors"] == []
    reservation = made["reservation"]
    assert reservation["status"] == "ACTIVE"
    assert reservation["quantity"] == reservation["heldQuantity"] == 3
    assert reservation["variantId"] == "gid://variant/77"
    assert datetime.fromisoformat(reservation["expiresAt"]) == expires
    assert reservation["warehouse"] == {"code": "DC-1"}
    assert reservation["channel"] is None
    stocked = await level(engine, "SKU-V", "DC-1")
    assert (stocked["on_hand"], stocked["reserved"], stocked["available"]) == (10, 3, 7)
    [moved] = await movements(engine)
    assert moved["type"] == "RESERVED"
    assert (moved["d_reserved"], moved["d_on_hand"]) == (3, 0)
    assert moved["reference_id"] == "cart-1"
    [event] = await events(engine)
    assert event["kind"] == "CREATED"
    assert (event["quantity"], event["referenceId"]) == (3, "cart-1")
    await check_invariants(engine)


@pytest.mark.parametrize(
    ("kind", "lifetime", "bucket"),
    [
        ("CART", timedelta(minutes=30), "reserved"),
        ("TRANSFER", timedelta(hours=24), "reserved"),
        ("ORDER", None, "committed"),
    ],
)
async def test_each_type_has_its_default_lifetime_and_bucket(
    admin: Client,
    storefront: Client,
    engine: AsyncEngine,
    kind: str,
    lifetime: timedelta | None,
    bucket: str,
) -> None:
    await world(admin)
    before = datetime.now(UTC)
    made = await reserve(
        storefront, sku="SKU-1", quantity=4, type=kind, channelCode="WEBSITE", referenceId="r"
    )
    after = datetime.now(UTC)
    reservation = made["reservation"]
    assert made["errors"] == []
    if lifetime is None:
        assert reservation["expiresAt"] is None
    else:
        expires = datetime.fromisoformat(reservation["expiresAt"])
        assert before + lifetime - timedelta(seconds=5) <= expires <= after + lifetime
    stocked = await level(engine, "SKU-1", "DC-1")
    assert stocked[bucket] == 4
    assert stocked["available"] == 6
    await check_invariants(engine)


async def test_a_variant_id_alone_names_the_product_and_must_agree_with_it(
    admin: Client, storefront: Client
) -> None:
    await world(admin)
    await factories.product(admin, "SKU-2", externalVariantId="v-2")
    await factories.level(
        admin, (await factories.product(admin, "SKU-3"))["id"], (await _dc(admin))["id"], 5
    )
    by_variant = await reserve(storefront, variantId="v-2", quantity=1, warehouseCode="DC-1")
    # v-2 exists but has no level at DC-1.
    assert [e["code"] for e in by_variant["errors"]] == ["NOT_FOUND"]
    assert by_variant["errors"][0]["field"] == "warehouseId"

    await factories.level(
        admin, (await _product(admin, "SKU-2"))["id"], (await _dc(admin))["id"], 5
    )
    ok = await reserve(storefront, variantId="v-2", quantity=1)
    assert ok["errors"] == []
    assert ok["reservation"]["product"] == {"sku": "SKU-2"}

    wrong = await reserve(storefront, sku="SKU-1", variantId="v-2", quantity=1)
    assert [(e["field"], e["code"]) for e in wrong["errors"]] == [("variantId", "INVALID")]
    unknown = await reserve(storefront, variantId="v-404", quantity=1)
    assert [(e["field"], e["code"]) for e in unknown["errors"]] == [("variantId", "NOT_FOUND")]


async def _dc(admin: Client) -> dict[str, Any]:
    found = await admin('query { warehouse(code: "DC-1") { id } }')
    return dict(found["warehouse"])


async def _product(admin: Client, sku: str) -> dict[str, Any]:
    found = await admin("query($s: String!) { product(sku: $s) { id } }", {"s": sku})
    return dict(found["product"])


async def test_a_reservation_beyond_what_is_available_is_refused_with_the_available_quantity(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin, quantity=5)
    first = await reserve(storefront, sku="SKU-1", quantity=4, channelCode="WEBSITE")
    assert first["errors"] == []

    refused = await reserve(storefront, sku="SKU-1", quantity=2, channelCode="WEBSITE")
    assert refused["reservation"] is None
    [error] = refused["errors"]
    assert (error["code"], error["field"]) == ("INSUFFICIENT_STOCK", "quantity")
    assert (error["available"], error["requested"]) == (1, 2)
    # Straight at the warehouse, without a channel: the same answer.
    direct = await reserve(storefront, sku="SKU-1", quantity=2, warehouseCode="DC-1")
    assert [(e["code"], e["available"]) for e in direct["errors"]] == [("INSUFFICIENT_STOCK", 1)]
    assert (await level(engine, "SKU-1", "DC-1"))["reserved"] == 4
    await check_invariants(engine)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -3}, "quantity"),
        ({"quantity": 1, "type": "ORDER", "expiresAt": "2099-01-01T00:00:00Z"}, "expiresAt"),
        ({"quantity": 1, "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"quantity": 1, "referenceId": "x" * 201}, "referenceId"),
        ({"quantity": 1, "idempotencyKey": " "}, "idempotencyKey"),
        ({"quantity": 1, "shippingAddress": {"latitude": 10}}, "shippingAddress"),
        ({"quantity": 1, "channelCode": "NOPE"}, "channelCode"),
        ({"quantity": 1, "warehouseCode": "NOPE"}, "warehouseCode"),
    ],
)
async def test_bad_input_is_refused_by_field_and_changes_nothing(
    admin: Client, storefront: Client, engine: AsyncEngine, values: dict[str, Any], field: str
) -> None:
    await world(admin)
    made = await reserve(storefront, sku="SKU-1", **values)
    assert made["reservation"] is None
    assert field in [e["field"] for e in made["errors"]], made["errors"]
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM reservations"))).scalar() == 0
    assert (await level(engine, "SKU-1", "DC-1"))["reserved"] == 0


async def test_an_inactive_channel_or_warehouse_takes_no_reservation(
    admin: Client, storefront: Client
) -> None:
    ids = await world(admin)
    await admin(operation("UpdateChannel"), {"input": {"id": ids["channel"], "isActive": False}})
    closed = await reserve(storefront, sku="SKU-1", quantity=1, channelCode="WEBSITE")
    assert [(e["field"], e["code"]) for e in closed["errors"]] == [("channelCode", "INVALID")]
    await admin(
        """mutation($id: ID!) { updateWarehouse(input: {id: $id, isActive: false}) {
            errors { code } } }""",
        {"id": ids["DC-1"]},
    )
    shut = await reserve(storefront, sku="SKU-1", quantity=1, warehouseCode="DC-1")
    assert [(e["field"], e["code"]) for e in shut["errors"]] == [("warehouseId", "INVALID")]


async def test_a_cart_is_all_or_nothing_by_default(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    await factories.stocked(admin, "SKU-2", {"DC-1": 2})
    result = await reserve_cart(
        storefront,
        referenceId="cart-9",
        channelCode="WEBSITE",
        lines=[{"sku": "SKU-1", "quantity": 3}, {"sku": "SKU-2", "quantity": 5}],
    )
    assert result["success"] is False
    assert result["reservations"] == []
    [error] = result["errors"]
    assert (error["field"], error["code"], error["available"]) == (
        "lines.1.quantity",
        "INSUFFICIENT_STOCK",
        2,
    )
    [failure] = result["failures"]
    assert (failure["line"], failure["requestedQuantity"], failure["availableQuantity"]) == (
        1,
        5,
        2,
    )
    assert (await level(engine, "SKU-1", "DC-1"))["reserved"] == 0
    await check_invariants(engine)


async def test_a_partial_cart_reserves_what_it_can_and_lists_the_rest(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    await factories.stocked(admin, "SKU-2", {"DC-1": 2})
    result = await reserve_cart(
        storefront,
        referenceId="cart-9",
        channelCode="WEBSITE",
        allowPartial=True,
        lines=[
            {"sku": "SKU-1", "quantity": 3},
            {"sku": "SKU-2", "quantity": 5},
            {"sku": "SKU-1", "quantity": 8},
            {"sku": "SKU-1", "quantity": 7},
        ],
    )
    assert result["success"] is False
    assert result["errors"] == []
    assert [(r["product"]["sku"], r["quantity"]) for r in result["reservations"]] == [
        ("SKU-1", 3),
        ("SKU-1", 7),
    ]
    assert [
        (f["line"], f["requestedQuantity"], f["availableQuantity"]) for f in result["failures"]
    ] == [(1, 5, 2), (2, 8, 7)]
    assert (await level(engine, "SKU-1", "DC-1"))["reserved"] == 10
    await check_invariants(engine)


async def test_a_cart_with_a_bad_line_is_refused_whole_even_when_partial(
    admin: Client, storefront: Client
) -> None:
    await world(admin)
    result = await reserve_cart(
        storefront,
        allowPartial=True,
        lines=[{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-404", "quantity": 1}],
    )
    assert [(e["field"], e["code"]) for e in result["errors"]] == [("lines.1.sku", "NOT_FOUND")]
    assert result["reservations"] == []


async def test_release_returns_the_stock_once(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    made = await reserve(storefront, sku="SKU-1", quantity=4, channelCode="WEBSITE")
    reservation = made["reservation"]["id"]

    released = await storefront(operation("ReleaseReservation"), {"id": reservation})
    payload = released["releaseReservation"]
    assert payload["errors"] == []
    assert payload["reservation"]["status"] == "RELEASED"
    assert payload["reservation"]["heldQuantity"] == 0
    assert payload["reservation"]["endedAt"] is not None
    assert (await level(engine, "SKU-1", "DC-1"))["reserved"] == 0

    again = await storefront(operation("ReleaseReservation"), {"id": reservation})
    [error] = again["releaseReservation"]["errors"]
    assert error["code"] == "INVALID_TRANSITION"
    # Named by the id the client holds, not the database's number.
    assert error["message"] == f"reservation {reservation} is RELEASED; it cannot be released"
    assert [m["type"] for m in await movements(engine)] == ["RESERVED", "RELEASED"]
    assert [e["kind"] for e in await events(engine)] == ["CREATED", "RELEASED"]
    await check_invariants(engine)


async def test_release_by_reference_releases_the_whole_cart(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    await reserve_cart(
        storefront,
        referenceId="cart-7",
        lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-1", "quantity": 3}],
    )
    await reserve(storefront, sku="SKU-1", quantity=1, referenceId="cart-8")
    released = await storefront.mutate(
        "releaseReservation",
        f"""mutation($input: ReleaseReservationInput!) {{ releaseReservation(input: $input) {{
            reservations {{ quantity status }} {SHORT} }} }}""",
        {"input": {"referenceId": "cart-7", "reason": "cart abandoned"}},
    )
    assert [(r["quantity"], r["status"]) for r in released["reservations"]] == [
        (2, "RELEASED"),
        (3, "RELEASED"),
    ]
    assert (await level(engine, "SKU-1", "DC-1"))["reserved"] == 1
    assert {m["reason"] for m in await movements(engine) if m["type"] == "RELEASED"} == {
        "cart abandoned"
    }
    await check_invariants(engine)


EXTEND = f"""mutation($input: ExtendReservationInput!) {{ extendReservation(input: $input) {{
    reservation {{ expiresAt status }} {SHORT} }} }}"""


async def test_extend_moves_the_expiry_and_only_for_active_expiring_reservations(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    cart = (await reserve(storefront, sku="SKU-1", quantity=1))["reservation"]
    old = datetime.fromisoformat(cart["expiresAt"])
    pushed = await storefront.mutate(
        "extendReservation", EXTEND, {"input": {"id": cart["id"], "extendBySeconds": 600}}
    )
    assert datetime.fromisoformat(pushed["reservation"]["expiresAt"]) == old + timedelta(minutes=10)
    target = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    set_to = await storefront.mutate(
        "extendReservation", EXTEND, {"input": {"id": cart["id"], "expiresAt": target.isoformat()}}
    )
    assert datetime.fromisoformat(set_to["reservation"]["expiresAt"]) == target

    order = (await reserve(storefront, sku="SKU-1", quantity=1, type="ORDER"))["reservation"]
    never = await storefront(EXTEND, {"input": {"id": order["id"], "extendBySeconds": 60}})
    assert [e["code"] for e in never["extendReservation"]["errors"]] == ["INVALID_TRANSITION"]
    await storefront(operation("ReleaseReservation"), {"id": cart["id"]})
    ended = await storefront(EXTEND, {"input": {"id": cart["id"], "extendBySeconds": 60}})
    assert [e["code"] for e in ended["extendReservation"]["errors"]] == ["INVALID_TRANSITION"]
    assert [e["kind"] for e in await events(engine)] == [
        "CREATED",
        "EXTENDED",
        "EXTENDED",
        "CREATED",
        "RELEASED",
    ]


async def test_a_cart_converts_to_an_order_that_never_expires(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    await reserve_cart(
        storefront,
        referenceId="cart-1",
        channelCode="WEBSITE",
        lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-1", "quantity": 1}],
    )
    converted = await storefront(
        operation("ConvertToOrderReservation"), {"cartId": "cart-1", "orderId": "order-1"}
    )
    payload = converted["convertToOrderReservation"]
    assert payload["errors"] == []
    assert [
        (r["type"], r["referenceId"], r["cartId"], r["expiresAt"], r["heldQuantity"])
        for r in payload["reservations"]
    ] == [("ORDER", "order-1", "cart-1", None, 2), ("ORDER", "order-1", "cart-1", None, 1)]
    stocked = await level(engine, "SKU-1", "DC-1")
    assert (stocked["reserved"], stocked["committed"], stocked["available"]) == (0, 3, 7)
    assert [m["type"] for m in await movements(engine)][-2:] == ["COMMITTED", "COMMITTED"]
    by_order = await storefront(
        operation("ReservationsByReference"), {"type": "ORDER", "referenceId": "order-1"}
    )
    assert len(by_order["reservations"]["nodes"]) == 2

    again = await storefront(
        operation("ConvertToOrderReservation"), {"cartId": "cart-1", "orderId": "order-1"}
    )
    [error] = again["convertToOrderReservation"]["errors"]
    assert error["code"] == "INVALID_TRANSITION"
    assert "CONVERTED to order-1" in error["message"]
    missing = await storefront(
        operation("ConvertToOrderReservation"), {"cartId": "cart-404", "orderId": "o"}
    )
    assert [e["code"] for e in missing["convertToOrderReservation"]["errors"]] == ["NOT_FOUND"]
    await check_invariants(engine)


async def test_an_expired_cart_cannot_be_converted_even_before_the_sweeper_runs(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    await reserve(storefront, sku="SKU-1", quantity=2, referenceId="cart-1")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE reservations SET expires_at = now() - interval '1 s'"))
    converted = await storefront(
        operation("ConvertToOrderReservation"), {"cartId": "cart-1", "orderId": "order-1"}
    )
    [error] = converted["convertToOrderReservation"]["errors"]
    assert (error["code"], error["field"]) == ("INVALID_TRANSITION", "cartId")
    stocked = await level(engine, "SKU-1", "DC-1")
    assert stocked["committed"] == 0
    await check_invariants(engine)


async def test_fulfilment_ships_the_order_and_records_a_sale_on_the_channel(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    made = await reserve(
        storefront,
        sku="SKU-1",
        quantity=5,
        type="ORDER",
        channelCode="WEBSITE",
        referenceId="order-1",
    )
    reservation = made["reservation"]["id"]
    part = await storefront.mutate(
        "fulfillReservation",
        operation("FulfillReservation"),
        {"input": {"id": reservation, "quantity": 2}},
    )
    assert [
        (r["status"], r["fulfilledQuantity"], r["heldQuantity"]) for r in part["reservations"]
    ] == [("ACTIVE", 2, 3)]
    stocked = await level(engine, "SKU-1", "DC-1")
    assert (stocked["on_hand"], stocked["committed"], stocked["available"]) == (8, 3, 5)
    rest = await storefront.mutate(
        "fulfillReservation", operation("FulfillReservation"), {"input": {"referenceId": "order-1"}}
    )
    assert [(r["status"], r["fulfilledQuantity"]) for r in rest["reservations"]] == [
        ("FULFILLED", 5)
    ]
    stocked = await level(engine, "SKU-1", "DC-1")
    assert (stocked["on_hand"], stocked["committed"], stocked["available"]) == (5, 0, 5)
    sales = [m for m in await movements(engine) if m["type"] == "SALE"]
    assert [(m["d_on_hand"], m["d_committed"]) for m in sales] == [(-2, -2), (-3, -3)]
    assert all(m["channel_id"] is not None for m in sales)

    twice = await storefront(operation("FulfillReservation"), {"input": {"id": reservation}})
    assert [e["code"] for e in twice["fulfillReservation"]["errors"]] == ["INVALID_TRANSITION"]
    await check_invariants(engine)


async def test_what_cannot_be_fulfilled(admin: Client, storefront: Client) -> None:
    await world(admin)
    order = (await reserve(storefront, sku="SKU-1", quantity=2, type="ORDER"))["reservation"]
    too_many = await storefront(
        operation("FulfillReservation"), {"input": {"id": order["id"], "quantity": 3}}
    )
    assert [(e["field"], e["code"]) for e in too_many["fulfillReservation"]["errors"]] == [
        ("quantity", "INVALID")
    ]
    transfer = (await reserve(storefront, sku="SKU-1", quantity=1, type="TRANSFER"))["reservation"]
    refused = await storefront(operation("FulfillReservation"), {"input": {"id": transfer["id"]}})
    assert [e["code"] for e in refused["fulfillReservation"]["errors"]] == ["INVALID_TRANSITION"]
    released = (await reserve(storefront, sku="SKU-1", quantity=1))["reservation"]
    await storefront(operation("ReleaseReservation"), {"id": released["id"]})
    gone = await storefront(operation("FulfillReservation"), {"input": {"id": released["id"]}})
    assert [e["code"] for e in gone["fulfillReservation"]["errors"]] == ["INVALID_TRANSITION"]


async def test_an_idempotency_key_makes_a_retry_safe(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    values = {"sku": "SKU-1", "quantity": 3, "channelCode": "WEBSITE", "idempotencyKey": "k-1"}
    sent = await asyncio.gather(*(reserve(storefront, **values) for _ in range(12)))
    assert {r["reservation"]["id"] for r in sent} == {sent[0]["reservation"]["id"]}
    assert (await level(engine, "SKU-1", "DC-1"))["reserved"] == 3

    reused = await reserve(storefront, **{**values, "quantity": 4})
    assert [e["code"] for e in reused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    # A refused request leaves its key free: fixed and sent again, it goes through.
    short = {**values, "quantity": 50, "idempotencyKey": "k-2"}
    assert [e["code"] for e in (await reserve(storefront, **short))["errors"]] == [
        "INSUFFICIENT_STOCK"
    ]
    await admin(
        operation("AdjustInventory"),
        {"input": {"sku": "SKU-1", "warehouseCode": "DC-1", "adjustment": 50, "reason": "RECEIPT"}},
    )
    assert (await reserve(storefront, **short))["errors"] == []
    await check_invariants(engine)


async def test_concurrent_reservations_never_oversell(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin, quantity=25)
    results = await asyncio.gather(
        *(
            reserve(storefront, sku="SKU-1", quantity=1, channelCode="WEBSITE", referenceId=f"c{i}")
            for i in range(60)
        )
    )
    made = [r for r in results if r["reservation"]]
    refused = [r for r in results if r["errors"]]
    assert len(made) == 25
    assert len(refused) == 35
    assert {e["code"] for r in refused for e in r["errors"]} == {"INSUFFICIENT_STOCK"}
    stocked = await level(engine, "SKU-1", "DC-1")
    assert (stocked["reserved"], stocked["available"]) == (25, 0)
    await check_invariants(engine)


async def test_reservation_queries_filter_and_page(admin: Client, storefront: Client) -> None:
    await world(admin)
    await reserve(storefront, sku="SKU-1", quantity=1, referenceId="cart-a")
    await reserve(storefront, sku="SKU-1", quantity=1, referenceId="cart-b", type="ORDER")
    third = await reserve(storefront, sku="SKU-1", quantity=1, referenceId="cart-a")
    await storefront(operation("ReleaseReservation"), {"id": third["reservation"]["id"]})
    query = """query($f: ReservationFilterInput, $first: Int, $after: String) {
        reservations(filter: $f, first: $first, after: $after) {
            totalCount nodes { referenceId type status } pageInfo { hasNextPage endCursor } } }"""

    def refs(data: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(n["referenceId"], n["type"], n["status"]) for n in data["reservations"]["nodes"]]

    by_cart = await storefront(query, {"f": {"referenceId": "cart-a"}})
    assert refs(by_cart) == [("cart-a", "CART", "ACTIVE"), ("cart-a", "CART", "RELEASED")]
    active_carts = await storefront(query, {"f": {"statuses": ["ACTIVE"], "types": ["CART"]}})
    assert refs(active_carts) == [("cart-a", "CART", "ACTIVE")]
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    expiring = await storefront(query, {"f": {"expiringBefore": soon}})
    assert {r[0] for r in refs(expiring)} == {"cart-a"}
    page = await storefront(query, {"first": 2})
    assert page["reservations"]["totalCount"] == 3
    assert page["reservations"]["pageInfo"]["hasNextPage"] is True
    rest = await storefront(
        query, {"first": 2, "after": page["reservations"]["pageInfo"]["endCursor"]}
    )
    assert len(rest["reservations"]["nodes"]) == 1
    node = await storefront(
        "query($id: ID!) { node(id: $id) { ... on Reservation { quantity referenceId } } }",
        {"id": third["reservation"]["id"]},
    )
    assert node["node"] == {"quantity": 1, "referenceId": "cart-a"}


async def test_expired_reservations_lists_what_the_sweeper_has_not_released(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await world(admin)
    await reserve(storefront, sku="SKU-1", quantity=1, referenceId="old")
    await reserve(storefront, sku="SKU-1", quantity=1, referenceId="new")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE reservations SET expires_at = now() + CASE reference_id"
                " WHEN 'old' THEN interval '1 hour' ELSE interval '3 hours' END"
            )
        )
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    found = await storefront(operation("ExpiredReservations"), {"before": later})
    assert [n["referenceId"] for n in found["expiredReservations"]["nodes"]] == ["old"]
    now = await storefront(
        operation("ExpiredReservations"), {"before": datetime.now(UTC).isoformat()}
    )
    assert now["expiredReservations"]["nodes"] == []


async def test_reading_and_changing_reservations_needs_the_reserve_permission(
    admin: Client, storefront: Client, connector: Any, engine: AsyncEngine
) -> None:
    ids = await world(admin)
    await channel(admin, "AMAZON", ["DC-1"], safetyBufferPercent=0)
    amazon = await connector("AMAZON")
    # A connector reserves on its own channel by default, and never on another.
    own = await reserve(amazon, sku="SKU-1", quantity=1, referenceId="amz-1")
    assert own["reservation"]["channel"] == {"code": "AMAZON"}
    other = await reserve(amazon, sku="SKU-1", quantity=1, channelId=ids["channel"])
    assert [e["code"] for e in other["errors"]] == ["FORBIDDEN"]
    website = await reserve(storefront, sku="SKU-1", quantity=1, channelCode="WEBSITE")
    theirs = website["reservation"]["id"]
    release = await amazon(operation("ReleaseReservation"), {"id": theirs})
    assert [e["code"] for e in release["releaseReservation"]["errors"]] == ["FORBIDDEN"]
    listed = await amazon("{ reservations { nodes { referenceId } } }")
    assert listed["reservations"]["nodes"] == [{"referenceId": "amz-1"}]
    peek = await amazon.raw("query($id: ID!) { reservation(id: $id) { id } }", {"id": theirs})
    assert peek["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await check_invariants(engine)
