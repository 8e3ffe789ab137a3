"""Kits: defining one (and every rule it must keep), a kit holding no stock of its own, its
availability derived from its components (summary, channels, feed), reserving, converting,
fulfilling and releasing a kit moving its components, and a component's change announced
for its kits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import FEED, channel, check_invariants, level, reserve
from support.client import Client, operation
from support.database import published
from support.imports import import_csv

SET_KIT = operation("SetKitComponents")
KIT_RESERVATION = """
mutation($input: CreateReservationInput!) {
  createReservation(input: $input) {
    reservation { id kitReservationId kit { sku } }
    reservations { id quantity kitReservationId kitQuantity product { sku } warehouse { code } }
    errors { field message code available requested }
  }
}"""
RELEASE = operation("ReleaseReservation")
FULFILL = operation("FulfillReservation")
CONVERT = operation("ConvertToOrderReservation")
SUMMARY = "query($sku: String!) { inventorySummary(sku: $sku) { onHand available } }"
AVAILABILITY = operation("ProductAvailability")


async def set_kit(admin: Client, sku: str, components: dict[str, int]) -> dict[str, Any]:
    body = await admin(
        SET_KIT,
        {
            "input": {
                "sku": sku,
                "components": [{"sku": s, "quantity": q} for s, q in components.items()],
            }
        },
    )
    return dict(body["setKitComponents"])


async def gift_box(admin: Client) -> None:
    """GIFT = 2 x MUG + 1 x TEA. MUG: 7 at DC-1, 4 at DC-2; TEA: 5 at DC-1, 9 at DC-2. The
    channel WEB sells from both, with no buffer."""
    await factories.stocked(admin, "MUG", {"DC-1": 7, "DC-2": 4})
    await factories.stocked(admin, "TEA", {"DC-1": 5, "DC-2": 9})
    await factories.product(admin, "GIFT")
    await channel(admin, "WEB", ["DC-1", "DC-2"], safetyBufferPercent=0)
    made = await set_kit(admin, "GIFT", {"MUG": 2, "TEA": 1})
    assert made["errors"] == []


async def test_a_kit_is_defined_by_its_components_and_every_rule_is_kept(admin: Client) -> None:
    await factories.stocked(admin, "MUG", {"DC-1": 7})
    await factories.stocked(admin, "TEA", {"DC-1": 5})
    await factories.product(admin, "GIFT")
    await factories.product(admin, "HAMPER")

    made = await set_kit(admin, "GIFT", {"MUG": 2, "TEA": 1})

    assert made["errors"] == []
    assert made["product"] == {"sku": "GIFT", "isKit": True}
    assert sorted((c["product"]["sku"], c["quantity"]) for c in made["components"]) == [
        ("MUG", 2),
        ("TEA", 1),
    ]
    refusals = {
        "itself": (await set_kit(admin, "GIFT", {"GIFT": 1}))["errors"],
        "zero": (await set_kit(admin, "GIFT", {"MUG": 0}))["errors"],
        "unknown": (await set_kit(admin, "GIFT", {"NOPE": 1}))["errors"],
        "kit in a kit": (await set_kit(admin, "HAMPER", {"GIFT": 1}))["errors"],
        "component made a kit": (await set_kit(admin, "MUG", {"HAMPER": 1}))["errors"],
    }
    codes = {name: [(e["code"], e["field"]) for e in errors] for name, errors in refusals.items()}
    assert codes == {
        "itself": [("INVALID", "components.0.sku")],
        "zero": [("INVALID", "components.0.quantity")],
        "unknown": [("NOT_FOUND", "components.0.sku")],
        "kit in a kit": [("KIT_NESTED", "components.0.sku")],
        # MUG is GIFT's component, and it has stock of its own.
        "component made a kit": [("KIT_NESTED", "sku"), ("KIT_HAS_STOCK", "sku")],
    }
    kit = await admin(
        '{ product(sku: "GIFT") { isKit kitComponents { quantity product { sku } } } }'
    )
    assert kit["product"]["isKit"] is True
    assert len(kit["product"]["kitComponents"]) == 2, "refusals changed nothing"
    cleared = await set_kit(admin, "GIFT", {})
    assert cleared["product"] == {"sku": "GIFT", "isKit": False}
    assert cleared["components"] == []


async def test_a_kit_holds_no_stock_of_its_own(admin: Client, engine: AsyncEngine) -> None:
    await gift_box(admin)
    gift = await admin('{ product(sku: "GIFT") { id } }')
    dc1 = await admin('{ warehouse(code: "DC-1") { id } }')

    created = await admin(
        factories.CREATE_LEVEL,
        {
            "input": {
                "productId": gift["product"]["id"],
                "warehouseId": dc1["warehouse"]["id"],
                "quantity": 5,
            }
        },
    )
    received = await admin(
        operation("AdjustInventory"),
        {
            "input": {
                "sku": "GIFT",
                "warehouseCode": "DC-1",
                "adjustment": 5,
                "reason": "RECEIPT",
            }
        },
    )

    imported = await import_csv(admin, "SKU,WarehouseCode,Quantity\nMUG,DC-1,9\nGIFT,DC-1,5\n")
    recorded = await admin(
        """mutation($input: RecordInventoryEventsInput!) {
            recordInventoryEvents(input: $input) { results { status errors { code } } } }""",
        {
            "input": {
                "events": [
                    {
                        "sourceSystem": "WMS",
                        "eventId": "e-1",
                        "sequence": 1,
                        "type": "RECEIPT",
                        "sku": "GIFT",
                        "warehouseCode": "DC-1",
                        "quantityDelta": 3,
                        "occurredAt": "2026-12-01T09:30:00Z",
                    }
                ]
            }
        },
    )

    assert [e["code"] for e in created["createInventoryLevel"]["errors"]] == ["KIT_HAS_NO_STOCK"]
    assert [e["code"] for e in received["adjustInventory"]["errors"]] == ["KIT_HAS_NO_STOCK"]
    assert [(e["code"], e["field"]) for e in imported["errors"]] == [
        ("KIT_HAS_NO_STOCK", "file.3.SKU")
    ]
    [result] = recorded["recordInventoryEvents"]["results"]
    assert (result["status"], result["errors"]) == ("FAILED", [{"code": "KIT_HAS_NO_STOCK"}])
    assert (await level(engine, "MUG", "DC-1"))["on_hand"] == 7, "the import applied nothing"
    async with engine.connect() as conn:
        levels = await conn.execute(
            text(
                "SELECT count(*) FROM inventory_levels l JOIN products p ON p.id = l.product_id"
                " WHERE p.sku = 'GIFT'"
            )
        )
        assert levels.scalar() == 0


async def test_a_kits_availability_is_derived_from_its_components(
    admin: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin)
    await published(engine)

    summary = (await admin(SUMMARY, {"sku": "GIFT"}))["inventorySummary"]
    [web] = (await admin(AVAILABILITY, {"sku": "GIFT"}))["product"]["channelAvailability"]
    feed = await admin(FEED, {"channelCode": "WEB"})

    # DC-1: min(7 // 2, 5 // 1) = 3; DC-2: min(4 // 2, 9 // 1) = 2.
    assert summary == {"onHand": 5, "available": 5}
    by_warehouse = {w["warehouse"]["code"]: w["available"] for w in web["warehouses"]}
    assert by_warehouse == {"DC-1": 3, "DC-2": 2}
    # On the channel: min(ATS of MUG 11 // 2, ATS of TEA 14 // 1) = 5.
    assert web["availableToSell"] == 5
    items = {item["sku"]: item["availableToSell"] for item in feed["channelFeed"]["items"]}
    assert items == {"MUG": 11, "TEA": 14, "GIFT": 5}


async def test_reserving_a_kit_holds_its_components_and_they_move_together(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin)

    made = (
        await storefront(
            KIT_RESERVATION,
            {
                "input": {
                    "sku": "GIFT",
                    "quantity": 2,
                    "type": "CART",
                    "referenceId": "cart-1",
                    "channelCode": "WEB",
                    "warehouseCode": "DC-1",
                }
            },
        )
    )["createReservation"]

    assert made["errors"] == []
    kit_id = made["reservation"]["id"]
    assert made["reservation"]["kitReservationId"] == kit_id
    assert made["reservation"]["kit"] == {"sku": "GIFT"}
    holds = {(r["product"]["sku"], r["quantity"], r["kitQuantity"]) for r in made["reservations"]}
    assert holds == {("MUG", 4, 2), ("TEA", 2, 1)}
    assert {r["kitReservationId"] for r in made["reservations"]} == {kit_id}
    assert (await level(engine, "MUG", "DC-1"))["reserved"] == 4
    assert (await level(engine, "TEA", "DC-1"))["reserved"] == 2
    [web] = (await admin(AVAILABILITY, {"sku": "GIFT"}))["product"]["channelAvailability"]
    assert web["availableToSell"] == 3  # MUG: 7 // 2 = 3, TEA: 12

    other = next(r["id"] for r in made["reservations"] if r["id"] != kit_id)
    alone = (await storefront(RELEASE, {"id": other}))["releaseReservation"]
    assert [e["code"] for e in alone["errors"]] == ["KIT_COMPONENT_HOLD"]

    converted = (await admin(CONVERT, {"cartId": "cart-1", "orderId": "order-1"}))[
        "convertToOrderReservation"
    ]
    assert {r["type"] for r in converted["reservations"]} == {"ORDER"}
    assert (await level(engine, "MUG", "DC-1"))["committed"] == 4
    shipped = (await admin(FULFILL, {"input": {"id": kit_id, "quantity": 1}}))["fulfillReservation"]
    assert shipped["errors"] == []
    mug, tea = await level(engine, "MUG", "DC-1"), await level(engine, "TEA", "DC-1")
    assert (mug["on_hand"], mug["committed"]) == (5, 2)
    assert (tea["on_hand"], tea["committed"]) == (4, 1)
    too_many = (await admin(FULFILL, {"input": {"id": kit_id, "quantity": 2}}))[
        "fulfillReservation"
    ]
    assert [(e["code"], e["field"]) for e in too_many["errors"]] == [("INVALID", "quantity")]

    released = (await admin(RELEASE, {"id": kit_id}))["releaseReservation"]
    assert released["errors"] == []
    mug, tea = await level(engine, "MUG", "DC-1"), await level(engine, "TEA", "DC-1")
    assert (mug["committed"], tea["committed"]) == (0, 0)
    await check_invariants(engine)


async def test_a_kit_short_of_a_component_is_refused_in_kits_and_writes_nothing(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin)

    refused = await reserve(
        storefront, sku="GIFT", quantity=4, type="CART", channelCode="WEB", warehouseCode="DC-1"
    )

    [error] = refused["errors"]
    assert error["code"] == "INSUFFICIENT_STOCK"
    assert (error["field"], error["requested"], error["available"]) == ("quantity", 4, 3)
    assert "MUG" in error["message"]
    assert (await level(engine, "MUG", "DC-1"))["reserved"] == 0
    assert (await level(engine, "TEA", "DC-1"))["reserved"] == 0
    await check_invariants(engine)


async def test_a_components_change_is_announced_for_its_kits(
    admin: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin)
    await published(engine)
    first = await admin(FEED, {"channelCode": "WEB"})
    cursor = first["channelFeed"]["cursor"]
    latest = (await admin("{ latestSequence }"))["latestSequence"]

    await factories.adjust(admin, "MUG", "DC-2", -2)
    await published(engine)

    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT o.payload FROM outbox o WHERE o.topic = 'KIT_AVAILABILITY_CHANGED'"
                " AND o.payload->>'cause' = 'COMPONENT' ORDER BY o.id"
            )
        )
        payloads = [row.payload for row in rows]
    gift = await admin('{ product(sku: "GIFT") { id } mug: product(sku: "MUG") { id } }')
    assert len(payloads) == 1
    assert payloads[0]["cause"] == "COMPONENT"
    changed = await admin(
        """query($after: String) { channelFeed(channelCode: "WEB", after: $after) {
            items { sku availableToSell } cursor } }""",
        {"after": cursor},
    )
    items = {i["sku"]: i["availableToSell"] for i in changed["channelFeed"]["items"]}
    # MUG: 9 left; GIFT: min(9 // 2, 14) = 4.
    assert items == {"MUG": 9, "GIFT": 4}
    polled = await admin(
        """query($after: Long!) {
            inventoryChanges(after: $after, first: 100, topics: [KIT_AVAILABILITY_CHANGED]) {
                events { ... on KitAvailabilityChange { cause kitId componentId } } } }""",
        {"after": latest},
    )
    events = polled["inventoryChanges"]["events"]
    mine = {"cause": "COMPONENT", "kitId": gift["product"]["id"], "componentId": gift["mug"]["id"]}
    assert events == [mine]

    # A component's allocation on a channel limits the kit there too.
    await admin.mutate(
        "setChannelInventory",
        operation("SetChannelInventory"),
        {"input": {"sku": "MUG", "channelCode": "WEB", "allocatedQuantity": 4}},
    )
    await published(engine)
    allocated = await admin(
        """query($after: String) { channelFeed(channelCode: "WEB", after: $after) {
            items { sku availableToSell } } }""",
        {"after": changed["channelFeed"]["cursor"]},
    )
    items = {i["sku"]: i["availableToSell"] for i in allocated["channelFeed"]["items"]}
    assert items == {"MUG": 4, "GIFT": 2}


CART = """
mutation($input: ReserveCartInput!) {
  reserveCart(input: $input) {
    reservations { id kitReservationId expiresAt product { sku } }
    errors { field code requested available }
  }
}"""
EXTEND = """
mutation($input: ExtendReservationInput!) {
  extendReservation(input: $input) { reservation { id expiresAt } errors { code } }
}"""


async def test_a_cart_with_a_kit_line_holds_the_kit_whole_and_ends_it_with_the_cart(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await gift_box(admin)
    lines = [{"sku": "GIFT", "quantity": 2}, {"sku": "TEA", "quantity": 1}]

    made = (
        await storefront(
            CART, {"input": {"referenceId": "cart-9", "channelCode": "WEB", "lines": lines}}
        )
    )["reserveCart"]
    short = (
        await storefront(
            CART,
            {
                "input": {
                    "referenceId": "cart-10",
                    "channelCode": "WEB",
                    "allowPartial": True,
                    "lines": [{"sku": "TEA", "quantity": 1}, {"sku": "GIFT", "quantity": 9}],
                }
            },
        )
    )["reserveCart"]

    assert made["errors"] == []
    kit_holds = [r for r in made["reservations"] if r["kitReservationId"]]
    assert {r["product"]["sku"] for r in kit_holds} == {"MUG", "TEA"}
    assert len({r["kitReservationId"] for r in kit_holds}) == 1
    # A kit is never partly reserved: a cart with a kit line is all or nothing.
    assert [(e["field"], e["code"], e["requested"]) for e in short["errors"]] == [
        ("lines.1.quantity", "INSUFFICIENT_STOCK", 9)
    ]
    kit_id = kit_holds[0]["kitReservationId"]
    extended = (await storefront(EXTEND, {"input": {"id": kit_id, "extendBySeconds": 3600}}))[
        "extendReservation"
    ]
    assert extended["errors"] == []
    async with engine.connect() as conn:
        expiries = await conn.execute(
            text(
                "SELECT DISTINCT expires_at FROM reservations"
                " WHERE kit_reservation_id IS NOT NULL AND status = 'ACTIVE'"
            )
        )
        assert len(expiries.all()) == 1, "the kit's holds were extended together"
    released = await storefront(
        'mutation { releaseReservation(input: {referenceId: "cart-9"}) { errors { code } } }'
    )
    assert released["releaseReservation"]["errors"] == []
    assert (await level(engine, "MUG", "DC-1"))["reserved"] == 0
    assert (await level(engine, "MUG", "DC-2"))["reserved"] == 0
    await check_invariants(engine)
