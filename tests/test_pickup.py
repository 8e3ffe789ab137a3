"""Click-and-collect: pickup locations (warehouses with the PICKUP capability, their pickup
details and transfer lead time), pickupAvailability (local stock, or transfers in within a
lead time; near a position), and reservations made for pickup at one location."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from support import channels, factories
from support.client import Client, clients, operation
from support.statements import statements

PICKUP = operation("PickupAvailability")
NYC = {"latitude": 40.7128, "longitude": -74.0060}
BOSTON = {"latitude": 42.3601, "longitude": -71.0589}
RESERVED = """
mutation($input: CreateReservationInput!) {
  createReservation(input: $input) {
    reservations { quantity warehouse { code } pickupLocation { code } }
    errors { field code available requested }
  }
}"""
CART = """
mutation($input: ReserveCartInput!) {
  reserveCart(input: $input) {
    success
    reservations { quantity product { sku } warehouse { code } pickupLocation { code } }
    errors { field code }
  }
}"""


async def shops(admin: Client) -> None:
    """Two pickup stores and a DC on channel WEB (no buffer); an outlet that is a pickup
    location of no channel; a warehouse outside the channel.

    P-1: NYC 2, BOS 5, DC-1 10.   P-2: NYC 3, DC-1 1, WH-OUT 4."""
    await factories.warehouse(
        admin,
        "STORE-NYC",
        capabilities=["PICKUP", "STORAGE"],
        address=NYC,
        pickupInstructions="Collection desk by the entrance",
        pickupHours="Mon-Sat 10:00-20:00",
        transferLeadHours=24,
    )
    await factories.warehouse(admin, "STORE-BOS", capabilities=["PICKUP"], address=BOSTON)
    await factories.warehouse(admin, "DC-1", capabilities=["SHIPPING"], address=NYC)
    await factories.warehouse(admin, "OUTLET", capabilities=["PICKUP"])
    await factories.stocked(admin, "P-1", {"STORE-NYC": 2, "STORE-BOS": 5, "DC-1": 10})
    await factories.stocked(admin, "P-2", {"STORE-NYC": 3, "DC-1": 1, "WH-OUT": 4})
    await channels.channel(admin, "WEB", ["STORE-NYC", "STORE-BOS", "DC-1"], safetyBufferPercent=0)


async def options(client: Client, lines: list[tuple[str, int]], **given: Any) -> list[dict]:
    data = await client(
        PICKUP,
        {
            "input": {
                "channelCode": "WEB",
                "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
                **given,
            }
        },
    )
    return list(data["pickupAvailability"])


def table(found: list[dict]) -> list[tuple[str, bool, int, list[tuple[int, int, int]]]]:
    """Per location: code, complete, ready in hours, (local, transfer, missing) per line."""
    return [
        (
            o["location"]["code"],
            o["complete"],
            o["readyInHours"],
            [(x["localQuantity"], x["transferQuantity"], x["missingQuantity"]) for x in o["lines"]],
        )
        for o in found
    ]


async def test_a_pickup_location_has_its_details_and_bad_ones_are_refused(admin: Client) -> None:
    await shops(admin)
    found = await admin(
        "{ warehouses(first: 10) { nodes { code isPickupLocation pickupInstructions"
        " pickupHours transferLeadHours version } } }"
    )
    by_code = {w["code"]: w for w in found["warehouses"]["nodes"]}
    nyc = by_code["STORE-NYC"]
    assert (nyc["isPickupLocation"], nyc["pickupHours"], nyc["transferLeadHours"]) == (
        True,
        "Mon-Sat 10:00-20:00",
        24,
    )
    assert nyc["pickupInstructions"] == "Collection desk by the entrance"
    assert by_code["DC-1"]["isPickupLocation"] is False
    update = (
        "mutation($input: UpdateWarehouseInput!) { updateWarehouse(input: $input) {"
        " warehouse { transferLeadHours pickupHours version } errors { field code } } }"
    )
    refused = await admin(
        update,
        {
            "input": {
                "warehouseCode": "STORE-NYC",
                "transferLeadHours": -1,
                "pickupHours": "x" * 501,
            }
        },
    )
    errors = refused["updateWarehouse"]["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {
        ("transferLeadHours", "INVALID"),
        ("pickupHours", "INVALID"),
    }
    changed = await admin(
        update,
        {"input": {"warehouseCode": "STORE-NYC", "transferLeadHours": 6, "pickupHours": None}},
    )
    warehouse = changed["updateWarehouse"]["warehouse"]
    # The refused edit changed nothing: this one is the first since creation.
    assert (warehouse["transferLeadHours"], warehouse["pickupHours"], warehouse["version"]) == (
        6,
        None,
        nyc["version"] + 1,
    )


async def test_where_a_cart_can_be_picked_up_locally_or_with_transfers(
    admin: Client, storefront: Client
) -> None:
    await shops(admin)
    cart = [("P-1", 3), ("P-2", 2)]
    local = await options(storefront, cart)
    # Neither store has everything; the one missing least comes first. DC-1 and the outlet
    # (no pickup; not the channel's) are no options.
    assert table(local) == [
        ("STORE-NYC", False, 0, [(2, 0, 1), (2, 0, 0)]),
        ("STORE-BOS", False, 0, [(3, 0, 0), (0, 0, 2)]),
    ]
    assert local[0]["location"]["pickupInstructions"] == "Collection desk by the entrance"
    # With transfers NYC (24 h lead) is complete and first; BOS has no lead time: local only.
    moved = await options(storefront, cart, mode="WITH_TRANSFERS")
    assert table(moved) == [
        ("STORE-NYC", True, 24, [(2, 1, 0), (2, 0, 0)]),
        ("STORE-BOS", False, 0, [(3, 0, 0), (0, 0, 2)]),
    ]
    assert table(await options(storefront, cart, mode="WITH_TRANSFERS", withinHours=12)) == (
        table(local)
    )
    # Stock outside the channel (WH-OUT) can be transferred in too.
    [nyc, _] = await options(storefront, [("P-2", 7)], mode="WITH_TRANSFERS", withinHours=24)
    assert table([nyc]) == [("STORE-NYC", True, 24, [(3, 4, 0)])]
    # ...within what is left of the channel's allocation, which caps local stock too.
    allocated = await admin(
        operation("SetChannelInventory"),
        {
            "input": {
                "sku": "P-2",
                "channelCode": "WEB",
                "allocatedQuantity": 3,
                "bufferQuantity": 0,
            }
        },
    )
    assert allocated["setChannelInventory"]["errors"] == []
    [nyc, _] = await options(storefront, [("P-2", 7)], mode="WITH_TRANSFERS")
    assert table([nyc]) == [("STORE-NYC", False, 0, [(3, 0, 4)])]
    # Near Boston, within 50 km: only the Boston store, with its distance.
    [near] = await options(storefront, cart, position=BOSTON, maxDistanceKm=50)
    assert near["location"]["code"] == "STORE-BOS"
    assert near["distanceKm"] == 0
    far = await options(storefront, cart, position=NYC)
    assert [o["distanceKm"] for o in far] == [0, 306.1]


async def test_bad_pickup_questions_are_refused_naming_the_field(
    admin: Client, storefront: Client
) -> None:
    await shops(admin)
    cases = [
        ({"lines": [{"sku": "P-1", "quantity": 0}]}, "lines.0.quantity", "INVALID"),
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "lines.0.sku", "NOT_FOUND"),
        ({"withinHours": 4}, "withinHours", "INVALID"),
        ({"maxDistanceKm": 10}, "position", "REQUIRED"),
        ({"position": {"latitude": 91, "longitude": 0}}, "position", "INVALID"),
        ({"channelCode": "NO-SUCH"}, "channelCode", "NOT_FOUND"),
        ({"channelCode": None}, "channelId", "REQUIRED"),
    ]
    for given, field, code in cases:
        body = await storefront.raw(
            PICKUP,
            {"input": {"channelCode": "WEB", "lines": [{"sku": "P-1", "quantity": 1}], **given}},
        )
        assert body["data"] is None, given
        found = {(e["extensions"].get("field"), e["extensions"]["code"]) for e in body["errors"]}
        assert (field, code) in found, (given, body["errors"])


async def test_a_reservation_for_pickup_is_held_at_that_location_only(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await shops(admin)
    made = await storefront(
        CART,
        {
            "input": {
                "referenceId": "cart-1",
                "channelCode": "WEB",
                "pickupLocationCode": "STORE-NYC",
                "lines": [{"sku": "P-1", "quantity": 2}, {"sku": "P-2", "quantity": 1}],
            }
        },
    )
    cart = made["reserveCart"]
    assert cart["success"] is True, cart
    assert {
        (r["product"]["sku"], r["warehouse"]["code"], r["pickupLocation"]["code"])
        for r in cart["reservations"]
    } == {("P-1", "STORE-NYC", "STORE-NYC"), ("P-2", "STORE-NYC", "STORE-NYC")}
    assert table(await options(storefront, [("P-1", 1)])) == [
        ("STORE-BOS", True, 0, [(1, 0, 0)]),
        ("STORE-NYC", False, 0, [(0, 0, 1)]),
    ]
    # Routed, the same unit would come from elsewhere; for pickup at NYC there is none.
    short = await storefront(
        RESERVED,
        {
            "input": {
                "sku": "P-1",
                "quantity": 1,
                "channelCode": "WEB",
                "pickupLocationCode": "STORE-NYC",
            }
        },
    )
    [error] = short["createReservation"]["errors"]
    assert (error["code"], error["available"], error["requested"]) == ("INSUFFICIENT_STOCK", 0, 1)
    routed = await storefront(
        RESERVED, {"input": {"sku": "P-1", "quantity": 1, "channelCode": "WEB"}}
    )
    [plain] = routed["createReservation"]["reservations"]
    assert plain["pickupLocation"] is None
    before = await _counts(engine)
    refusals = [
        ({"pickupLocationCode": "DC-1"}, "pickupLocationCode", "NOT_A_PICKUP_LOCATION"),
        ({"pickupLocationCode": "OUTLET"}, "pickupLocationCode", "INVALID"),
        ({"pickupLocationCode": "NOWHERE"}, "pickupLocationCode", "NOT_FOUND"),
        ({"pickupLocationCode": "STORE-BOS", "warehouseCode": "DC-1"}, "warehouseCode", "INVALID"),
        ({"pickupLocationCode": "STORE-BOS", "type": "TRANSFER"}, "type", "INVALID"),
    ]
    for given, field, code in refusals:
        body = await storefront(
            RESERVED, {"input": {"sku": "P-1", "quantity": 1, "channelCode": "WEB", **given}}
        )
        errors = body["createReservation"]["errors"]
        assert (field, code) in {(e["field"], e["code"]) for e in errors}, (given, errors)
    assert await _counts(engine) == before
    # A product the location does not stock is a line short there, not bad input.
    partly = await storefront(
        CART,
        {
            "input": {
                "channelCode": "WEB",
                "pickupLocationCode": "STORE-BOS",
                "allowPartial": True,
                "lines": [{"sku": "P-1", "quantity": 1}, {"sku": "P-2", "quantity": 1}],
            }
        },
    )
    cart = partly["reserveCart"]
    assert (cart["success"], cart["errors"]) == (False, [])
    assert [(r["product"]["sku"], r["pickupLocation"]["code"]) for r in cart["reservations"]] == [
        ("P-1", "STORE-BOS")
    ]
    whole = await storefront(
        CART,
        {
            "input": {
                "channelCode": "WEB",
                "pickupLocationCode": "STORE-BOS",
                "lines": [{"sku": "P-1", "quantity": 1}, {"sku": "P-2", "quantity": 1}],
            }
        },
    )
    assert whole["reserveCart"]["errors"] == [
        {"field": "lines.1.quantity", "code": "INSUFFICIENT_STOCK"}
    ]


async def test_concurrent_pickup_reservations_never_take_more_than_the_location_has(
    admin: Client, base_url: str, tokens: dict[Role, str], engine: AsyncEngine
) -> None:
    await shops(admin)
    async with clients(base_url, tokens[Role.STOREFRONT], 12) as pool:
        answers = await asyncio.gather(
            *(
                client(
                    RESERVED,
                    {
                        "input": {
                            "sku": "P-1",
                            "quantity": 1,
                            "channelCode": "WEB",
                            "pickupLocationCode": "STORE-BOS",
                            "referenceId": f"cart-{i}",
                        }
                    },
                )
                for i, client in enumerate(pool)
            )
        )
    made = [a["createReservation"] for a in answers]
    assert sum(1 for m in made if not m["errors"]) == 5
    assert {e["code"] for m in made for e in m["errors"]} == {"INSUFFICIENT_STOCK"}
    async with engine.connect() as conn:
        held = (
            await conn.execute(
                text(
                    "SELECT l.reserved, (SELECT count(*) FROM reservation_pickups)"
                    " FROM inventory_levels l JOIN warehouses w ON w.id = l.warehouse_id"
                    " JOIN products p ON p.id = l.product_id"
                    " WHERE w.code = 'STORE-BOS' AND p.sku = 'P-1'"
                )
            )
        ).one()
    assert tuple(held) == (5, 5)


async def test_reservations_not_for_pickup_cost_nothing_more_and_locations_load_in_batches(
    admin: Client, storefront: Client
) -> None:
    await shops(admin)
    with statements() as seen:
        for _ in range(3):
            plain = await storefront(
                "mutation($input: CreateReservationInput!) { createReservation(input: $input)"
                " { errors { code } } }",
                {"input": {"sku": "P-1", "quantity": 1, "channelCode": "WEB"}},
            )
            assert plain["createReservation"]["errors"] == []
        cart = await storefront(
            "mutation($input: ReserveCartInput!) { reserveCart(input: $input) { success } }",
            {"input": {"channelCode": "WEB", "lines": [{"sku": "P-1", "quantity": 1}] * 2}},
        )
        assert cart["reserveCart"]["success"] is True
    written = [" ".join(s.split()) for s in seen]
    assert len(written) > 10  # the reservations were seen being made...
    # ...without a statement about pickup locations.
    assert not [s for s in written if "reservation_pickups" in s or "PICKUP" in s]
    await storefront(
        CART,
        {
            "input": {
                "channelCode": "WEB",
                "pickupLocationCode": "STORE-BOS",
                "lines": [{"sku": "P-1", "quantity": 1}] * 2,
            }
        },
    )
    with statements() as seen:
        page = await storefront("{ reservations(first: 20) { nodes { pickupLocation { code } } } }")
    located = [n["pickupLocation"] for n in page["reservations"]["nodes"]]
    assert (len(located), located.count({"code": "STORE-BOS"})) == (7, 2)
    read = [" ".join(s.split()) for s in seen]
    assert sum("FROM reservation_pickups" in s for s in read) == 1, read


async def _counts(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM reservations),"
                    " (SELECT count(*) FROM reservation_pickups),"
                    " (SELECT count(*) FROM inventory_movements),"
                    " (SELECT sum(reserved) FROM inventory_levels)"
                )
            )
        ).one()
    return tuple(row)
