"""Kits, preorders, purchase limits, pickup, shortfalls and reconciliation together: a kit's
component lines meet its components' purchase limits and the kit's own, a kit collected at a
pickup location holds its components there only, a partial cart with a kit line is all or
nothing and says so without a SHORTFALL, and reconciliation finds no drift where kit holds
and converted preorders hold stock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import channel, check_invariants, level
from support.client import Client, operation
from support.faults import database_id

SET_KIT = operation("SetKitComponents")
SET_LIMIT = operation("SetPurchaseLimit")
RESERVE = """
mutation($input: CreateReservationInput!) {
  createReservation(input: $input) {
    reservations { id quantity product { sku } warehouse { code } }
    errors { field message code limit alreadyReserved requested }
  }
}"""
CART = """
mutation($input: ReserveCartInput!) {
  reserveCart(input: $input) {
    reservations { quantity product { sku } warehouse { code } pickupLocation { code } }
    errors { field code requested available }
  }
}"""
EVENTS = """
mutation($input: RecordInventoryEventsInput!) {
  recordInventoryEvents(input: $input) { results { status errors { field code message } } }
}"""
ADJUST = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) { errors { field code } }
}"""
RECONCILE = """
mutation {
  reconcileInventory(input: {repair: true}) {
    run { discrepancyCount repairs { nodes { kind bucket product { sku } } } }
    errors { code }
  }
}"""


async def gift_box(admin: Client, warehouses: dict[str, dict[str, int]]) -> None:
    """GIFT = 2 x MUG + 1 x TEA, stocked as given; channel WEB sells from every warehouse."""
    await factories.stocked(admin, "MUG", warehouses["MUG"])
    await factories.stocked(admin, "TEA", warehouses["TEA"])
    await factories.product(admin, "GIFT")
    await channel(admin, "WEB", sorted(warehouses["MUG"]), safetyBufferPercent=0)
    made = await admin(
        SET_KIT,
        {
            "input": {
                "sku": "GIFT",
                "components": [{"sku": "MUG", "quantity": 2}, {"sku": "TEA", "quantity": 1}],
            }
        },
    )
    assert made["setKitComponents"]["errors"] == []


async def limit(admin: Client, sku: str, most: int) -> dict[str, Any]:
    body = await admin(
        SET_LIMIT, {"input": {"sku": sku, "channelCode": "WEB", "maxQuantityPerReference": most}}
    )
    return dict(body["setPurchaseLimit"])


async def reserve(client: Client, sku: str, quantity: int, cart: str) -> dict[str, Any]:
    body = await client(
        RESERVE,
        {"input": {"sku": sku, "quantity": quantity, "referenceId": cart, "channelCode": "WEB"}},
    )
    return dict(body["createReservation"])


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def count(engine: AsyncEngine, statement: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(statement))).scalar_one())


async def test_a_kit_counts_against_its_components_purchase_limit(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin, {"MUG": {"DC-1": 20}, "TEA": {"DC-1": 20}})
    assert (await limit(admin, "MUG", 4))["errors"] == []

    assert (await reserve(storefront, "GIFT", 2, "cart-1"))["errors"] == []  # 4 mugs
    refused = await reserve(storefront, "MUG", 1, "cart-1")
    [error] = refused["errors"]
    assert (error["code"], error["alreadyReserved"], error["requested"]) == (
        "PURCHASE_LIMIT_EXCEEDED",
        4,
        1,
    )
    too_many = await reserve(storefront, "GIFT", 3, "cart-2")  # 6 mugs
    [error] = too_many["errors"]
    assert (error["code"], error["field"], error["requested"]) == (
        "PURCHASE_LIMIT_EXCEEDED",
        "quantity",
        6,
    )
    assert (await level(engine, "MUG", "DC-1"))["reserved"] == 4
    await check_invariants(engine)


async def test_a_purchase_limit_on_a_kit_limits_the_kits_a_cart_holds(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin, {"MUG": {"DC-1": 20}, "TEA": {"DC-1": 20}})
    assert (await limit(admin, "GIFT", 1))["errors"] == []

    refused = await reserve(storefront, "GIFT", 2, "cart-1")
    assert [e["code"] for e in refused["errors"]] == ["PURCHASE_LIMIT_EXCEEDED"]
    assert refused["errors"][0]["requested"] == 2
    assert (await reserve(storefront, "GIFT", 1, "cart-1"))["errors"] == []
    again = await reserve(storefront, "GIFT", 1, "cart-1")
    [error] = again["errors"]
    assert (error["code"], error["alreadyReserved"], error["requested"]) == (
        "PURCHASE_LIMIT_EXCEEDED",
        1,
        1,
    )
    assert (await level(engine, "MUG", "DC-1"))["reserved"] == 2
    await check_invariants(engine)


async def test_a_kit_for_pickup_holds_its_components_at_the_pickup_location_only(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await factories.warehouse(admin, "STORE", capabilities=["PICKUP", "STORAGE"])
    await gift_box(admin, {"MUG": {"STORE": 2, "DC-1": 10}, "TEA": {"STORE": 5, "DC-1": 10}})

    made = (
        await storefront(
            CART,
            {
                "input": {
                    "referenceId": "cart-1",
                    "channelCode": "WEB",
                    "pickupLocationCode": "STORE",
                    "lines": [{"sku": "GIFT", "quantity": 1}],
                }
            },
        )
    )["reserveCart"]
    assert made["errors"] == []
    assert {
        (r["product"]["sku"], r["quantity"], r["warehouse"]["code"], r["pickupLocation"]["code"])
        for r in made["reservations"]
    } == {("MUG", 2, "STORE", "STORE"), ("TEA", 1, "STORE", "STORE")}
    # The store has no mug left: a second kit for pickup there is refused, though DC-1 has.
    short = (
        await storefront(
            CART,
            {
                "input": {
                    "referenceId": "cart-2",
                    "channelCode": "WEB",
                    "pickupLocationCode": "STORE",
                    "lines": [{"sku": "GIFT", "quantity": 1}],
                }
            },
        )
    )["reserveCart"]
    assert [(e["code"], e["requested"], e["available"]) for e in short["errors"]] == [
        ("INSUFFICIENT_STOCK", 1, 0)
    ]
    assert (await level(engine, "MUG", "DC-1"))["reserved"] == 0
    assert (await level(engine, "TEA", "DC-1"))["reserved"] == 0
    await check_invariants(engine)


async def test_a_partial_cart_with_a_kit_line_is_refused_whole_without_a_shortfall(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin, {"MUG": {"DC-1": 10}, "TEA": {"DC-1": 10}})
    await factories.stocked(admin, "RARE", {"DC-1": 1})

    short = (
        await storefront(
            CART,
            {
                "input": {
                    "referenceId": "cart-1",
                    "channelCode": "WEB",
                    "allowPartial": True,
                    "lines": [{"sku": "GIFT", "quantity": 1}, {"sku": "RARE", "quantity": 3}],
                }
            },
        )
    )["reserveCart"]
    assert short["reservations"] == []
    assert [(e["field"], e["code"], e["requested"], e["available"]) for e in short["errors"]] == [
        ("lines.1.quantity", "INSUFFICIENT_STOCK", 3, 1)
    ]
    # Nothing was reserved, so nothing is short in silence: the caller was told, no SHORTFALL.
    assert await count(engine, "SELECT count(*) FROM outbox WHERE topic = 'SHORTFALL'") == 0
    assert await count(engine, "SELECT count(*) FROM reservations") == 0
    # Without the kit line, the same cart is reserved in part and the short line is an event.
    partial = (
        await storefront(
            CART,
            {
                "input": {
                    "referenceId": "cart-2",
                    "channelCode": "WEB",
                    "allowPartial": True,
                    "lines": [{"sku": "MUG", "quantity": 1}, {"sku": "RARE", "quantity": 3}],
                }
            },
        )
    )["reserveCart"]
    assert [r["product"]["sku"] for r in partial["reservations"]] == ["MUG"]
    rows = await count(
        engine,
        "SELECT count(*) FROM outbox WHERE topic = 'SHORTFALL'"
        " AND (payload->>'line')::int = 1 AND (payload->>'missing')::int = 3",
    )
    assert rows == 1
    await check_invariants(engine)


async def test_reconciliation_finds_no_drift_beside_kit_holds_and_converted_preorders(
    admin: Client, storefront: Client, operator: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin, {"MUG": {"DC-1": 0}, "TEA": {"DC-1": 10}})
    await admin('mutation { setPreorderCap(input: {sku: "MUG", cap: 10}) { errors { code } } }')
    for i in range(2):
        made = await admin(
            "mutation($i: CreatePreorderInput!) { createPreorder(input: $i) { errors { code } } }",
            {"i": {"sku": "MUG", "quantity": 2, "channelCode": "WEB", "referenceId": f"pre-{i}"}},
        )
        assert made["createPreorder"]["errors"] == []
    await factories.adjust(operator, "MUG", "DC-1", 10)  # both preorders convert: 4 committed
    kit = await reserve(storefront, "GIFT", 2, "cart-1")  # 4 mugs, 2 teas
    assert kit["errors"] == []
    await admin(
        'mutation { convertToOrderReservation(input: {cartId: "cart-1", orderId: "o-1"})'
        " { errors { code } } }"
    )
    kit_id = min((r["id"] for r in kit["reservations"]), key=database_id)
    shipped = await admin(
        "mutation($i: FulfillReservationInput!)"
        " { fulfillReservation(input: $i) { errors { code } } }",
        {"i": {"id": kit_id, "quantity": 1}},  # one kit of the order shipped: 2 mugs, 1 tea
    )
    assert shipped["fulfillReservation"]["errors"] == []
    assert (await reserve(storefront, "GIFT", 1, "cart-2"))["errors"] == []  # 2 mugs held
    mug = await level(engine, "MUG", "DC-1")
    assert (mug["on_hand"], mug["committed"], mug["reserved"]) == (8, 6, 2)

    found = (await operator(RECONCILE))["reconcileInventory"]
    assert found["errors"] == []
    assert found["run"]["discrepancyCount"] == 0
    assert found["run"]["repairs"]["nodes"] == []
    await check_invariants(engine)


async def test_a_count_as_of_its_time_converts_waiting_preorders_once(
    admin: Client, operator: Client, engine: AsyncEngine
) -> None:
    """A late count that finds more than the ledger had at its moment raises on hand now, and
    the preorders waiting convert as on any receipt; the same count again changes nothing."""
    await factories.stocked(admin, "AS-P", {"DC-1": 0})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    await admin('mutation { setPreorderCap(input: {sku: "AS-P", cap: 10}) { errors { code } } }')
    made = await admin(
        "mutation($i: CreatePreorderInput!) { createPreorder(input: $i) { errors { code } } }",
        {"i": {"sku": "AS-P", "quantity": 3, "channelCode": "WEB", "referenceId": "pre-1"}},
    )
    assert made["createPreorder"]["errors"] == []
    t0 = datetime.now(UTC)
    receipt = {
        "sku": "AS-P",
        "warehouseCode": "DC-1",
        "adjustment": 2,
        "reason": "RECEIPT",
        "timestamp": iso(t0 + timedelta(seconds=1)),
    }
    await operator.mutate("adjustInventory", ADJUST, {"input": receipt})  # 2: too few for 3
    assert (await level(engine, "AS-P", "DC-1"))["committed"] == 0

    def snapshot(sequence: int) -> dict[str, Any]:
        return {
            "sourceSystem": "ERP-1",
            "eventId": f"SNAP-{sequence}",
            "sequence": sequence,
            "type": "COUNT",
            "sku": "AS-P",
            "warehouseCode": "DC-1",
            "quantity": 4,
            "countedAt": iso(t0),
        }

    for sequence in (1, 2):  # the same count of t0, sent twice
        pushed = await operator(EVENTS, {"input": {"events": [snapshot(sequence)]}})
        [result] = pushed["recordInventoryEvents"]["results"]
        assert result["status"] == "APPLIED", result
    dc1 = await level(engine, "AS-P", "DC-1")
    assert (dc1["on_hand"], dc1["committed"], dc1["available"]) == (6, 3, 3)
    assert await count(engine, "SELECT count(*) FROM preorders WHERE status = 'CONVERTED'") == 1
    assert await count(engine, "SELECT count(*) FROM reservations WHERE type = 'ORDER'") == 1
    found = (await operator(RECONCILE))["reconcileInventory"]
    assert found["run"]["discrepancyCount"] == 0
    await check_invariants(engine)


async def test_a_kit_takes_no_preorders_since_it_is_never_received(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    """A kit holds no stock, so no receipt would ever convert its preorders: a cap on a kit
    is refused, and so is a preorder of a kit; its components take preorders as any product."""
    await gift_box(admin, {"MUG": {"DC-1": 0}, "TEA": {"DC-1": 10}})
    cap = await admin(
        'mutation { setPreorderCap(input: {sku: "GIFT", cap: 5}) { errors { field code } } }'
    )
    assert [(e["field"], e["code"]) for e in cap["setPreorderCap"]["errors"]] == [
        ("sku", "KIT_HAS_NO_STOCK")
    ]
    # A cap set while the product was not a kit yet takes no kit preorders either.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO preorder_caps (product_id, cap)"
                " SELECT id, 5 FROM products WHERE sku = 'GIFT'"
            )
        )
    made = await storefront(
        "mutation($i: CreatePreorderInput!)"
        " { createPreorder(input: $i) { errors { field code } } }",
        {"i": {"sku": "GIFT", "quantity": 1, "channelCode": "WEB", "referenceId": "pre-1"}},
    )
    assert [(e["field"], e["code"]) for e in made["createPreorder"]["errors"]] == [
        ("sku", "KIT_HAS_NO_STOCK")
    ]
    assert await count(engine, "SELECT count(*) FROM preorders") == 0
    component = await admin(
        'mutation { setPreorderCap(input: {sku: "MUG", cap: 5}) { errors { code } } }'
    )
    assert component["setPreorderCap"]["errors"] == []
