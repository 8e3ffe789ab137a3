"""Purchase limits: the most units one cart or order may hold of a product on a channel.
Set and cleared by setPurchaseLimit, read by purchaseLimits, enforced by createReservation and
reserveCart with PURCHASE_LIMIT_EXCEEDED (giving the limit and what the reference holds), and
never exceeded by concurrent reservations of one cart through real clients."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from support import factories
from support.channels import channel, check_invariants, reserve_cart
from support.client import Client, clients, operation
from support.statements import statements

SET = operation("SetPurchaseLimit")
RESERVE = """
mutation($input: CreateReservationInput!) {
  createReservation(input: $input) {
    reservation { id quantity referenceId }
    errors { field message code limit alreadyReserved requested }
  }
}"""
LIMITS = """
query($channelCode: String, $skus: [String!]) {
  purchaseLimits(channelCode: $channelCode, skus: $skus) {
    maxQuantityPerReference version product { sku } channel { code }
  }
}"""


async def set_limit(admin: Client, sku: str, limit: int | None) -> dict[str, Any]:
    body = await admin(
        SET, {"input": {"sku": sku, "channelCode": "WEB", "maxQuantityPerReference": limit}}
    )
    return dict(body["setPurchaseLimit"])


async def reserve(client: Client, sku: str, quantity: int, cart: str | None) -> dict[str, Any]:
    body = await client(
        RESERVE,
        {"input": {"sku": sku, "quantity": quantity, "referenceId": cart, "channelCode": "WEB"}},
    )
    return dict(body["createReservation"])


async def shop(admin: Client) -> None:
    await factories.stocked(admin, "DROP-1", {"DC-1": 100})
    await factories.stocked(admin, "PLAIN-1", {"DC-1": 100})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)


async def test_a_cart_may_hold_up_to_the_limit_and_is_told_the_limit_beyond_it(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    made = await set_limit(admin, "DROP-1", 3)
    assert made["errors"] == []
    assert made["purchaseLimit"] == {
        "maxQuantityPerReference": 3,
        "version": 1,
        "channel": {"code": "WEB"},
        "product": {"sku": "DROP-1"},
    }
    assert (await reserve(storefront, "DROP-1", 2, "cart-1"))["errors"] == []
    refused = await reserve(storefront, "DROP-1", 2, "cart-1")
    assert refused["reservation"] is None
    [error] = refused["errors"]
    assert error["code"] == "PURCHASE_LIMIT_EXCEEDED"
    assert error["field"] == "quantity"
    assert (error["limit"], error["alreadyReserved"], error["requested"]) == (3, 2, 2)
    # Another cart has its own room; the last unit of this one still fits.
    assert (await reserve(storefront, "DROP-1", 3, "cart-2"))["errors"] == []
    assert (await reserve(storefront, "DROP-1", 1, "cart-1"))["errors"] == []
    # A product without a limit is not limited; a reservation without a reference is refused
    # for a limited product (it could not be counted).
    assert (await reserve(storefront, "PLAIN-1", 50, "cart-1"))["errors"] == []
    [unnamed] = (await reserve(storefront, "DROP-1", 1, None))["errors"]
    assert (unnamed["code"], unnamed["field"], unnamed["limit"]) == ("REQUIRED", "referenceId", 3)
    # A cart's lines of one product count together; released units give their room back.
    cart = await reserve_cart(
        storefront,
        referenceId="cart-3",
        channelCode="WEB",
        lines=[{"sku": "DROP-1", "quantity": 2}, {"sku": "DROP-1", "quantity": 2}],
    )
    assert [e["code"] for e in cart["errors"]] == ["PURCHASE_LIMIT_EXCEEDED"]
    assert cart["errors"][0]["field"] == "lines.0.quantity"
    await admin.mutate(
        "releaseReservation",
        "mutation($input: ReleaseReservationInput!) {"
        " releaseReservation(input: $input) { errors { code } } }",
        {"input": {"referenceId": "cart-2"}},
    )
    assert (await reserve(storefront, "DROP-1", 3, "cart-2"))["errors"] == []
    # Cleared: no limit any more.
    cleared = await set_limit(admin, "DROP-1", None)
    assert cleared == {"purchaseLimit": None, "errors": []}
    assert (await reserve(storefront, "DROP-1", 10, "cart-1"))["errors"] == []
    await check_invariants(engine)


async def test_limits_are_readable_and_bad_limits_change_nothing(
    admin: Client, storefront: Client
) -> None:
    await shop(admin)
    await set_limit(admin, "DROP-1", 2)
    again = await set_limit(admin, "DROP-1", 4)
    assert again["purchaseLimit"]["version"] == 2
    found = await storefront(LIMITS, {"channelCode": "WEB", "skus": ["DROP-1", "PLAIN-1"]})
    assert found["purchaseLimits"] == [
        {
            "maxQuantityPerReference": 4,
            "version": 2,
            "product": {"sku": "DROP-1"},
            "channel": {"code": "WEB"},
        }
    ]
    for bad, code in ((0, "INVALID"), (-1, "INVALID"), (2**31 - 1, "QUANTITY_OUT_OF_RANGE")):
        [error] = (await set_limit(admin, "DROP-1", bad))["errors"]
        assert (error["code"], error["field"]) == (code, "maxQuantityPerReference")
    [error] = (
        await admin(
            SET, {"input": {"sku": "NOPE", "channelCode": "WEB", "maxQuantityPerReference": 1}}
        )
    )["setPurchaseLimit"]["errors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", "sku")
    found = await storefront(LIMITS, {"channelCode": "WEB", "skus": ["DROP-1"]})
    assert found["purchaseLimits"][0]["maxQuantityPerReference"] == 4
    # Only those who manage allocations set limits.
    [error] = (await set_limit(storefront, "DROP-1", 9))["errors"]
    assert error["code"] == "FORBIDDEN"


async def test_concurrent_reservations_of_one_cart_never_pass_its_limit_together(
    admin: Client, base_url: str, tokens: dict[Role, str], engine: AsyncEngine
) -> None:
    """40 requests for one cart, from 40 connections under three tokens (so that they are
    written in separate batches and transactions racing for the lock, as well as together in
    one batch): exactly the limit is reserved, the rest are refused with the limit."""
    await shop(admin)
    await set_limit(admin, "DROP-1", 7)
    # Another cart on the same product races alongside, with its own room.
    callers = [tokens[Role.STOREFRONT], tokens[Role.OPERATOR], tokens[Role.ADMIN]]
    async with (
        clients(base_url, callers[0], 14) as first,
        clients(base_url, callers[1], 13) as second,
        clients(base_url, callers[2], 13) as third,
    ):
        racers = [*first, *second, *third]
        outcomes = await asyncio.gather(
            *(
                reserve(client, "DROP-1", 1 + i % 2, "cart-hot" if i % 4 else "cart-other")
                for i, client in enumerate(racers)
            )
        )
    held = {"cart-hot": 0, "cart-other": 0}
    refused = 0
    for i, outcome in enumerate(outcomes):
        cart = "cart-hot" if i % 4 else "cart-other"
        if outcome["errors"]:
            [error] = outcome["errors"]
            assert error["code"] == "PURCHASE_LIMIT_EXCEEDED", error
            assert error["limit"] == 7
            assert error["alreadyReserved"] + error["requested"] > 7
            refused += 1
        else:
            held[cart] += outcome["reservation"]["quantity"]
    assert refused > 0
    # The other cart asks 1 unit at a time: it fills exactly. The hot one asks 1 or 2: it
    # stops within one unit of its limit, never past it.
    assert held["cart-other"] == 7
    assert 6 <= held["cart-hot"] <= 7
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT reference_id, sum(quantity) AS n FROM reservations"
                " WHERE status = 'ACTIVE' GROUP BY reference_id"
            )
        )
        assert {row.reference_id: row.n for row in rows} == held
    await check_invariants(engine)


async def test_products_without_a_limit_or_preorders_cost_no_statement_of_their_own(
    admin: Client, storefront: Client
) -> None:
    """Reserving and adjusting a product that uses neither feature runs no statement for
    them: their checks ride in statements that run anyway (the reservation's state, the
    ledger's change). A limited product costs one statement more: what its cart holds."""
    await shop(admin)
    await set_limit(admin, "DROP-1", 5)

    def own(seen: list[str]) -> list[str]:
        return [
            s
            for s in seen
            if ("purchase_limits" in s or "preorders" in s) and "inventory_levels" not in s
        ]

    with statements() as seen:
        assert (await reserve(storefront, "PLAIN-1", 1, "cart-1"))["errors"] == []
        await factories.adjust(admin, "PLAIN-1", "DC-1", 5)
        await factories.adjust(admin, "PLAIN-1", "DC-1", -1)
    assert own(seen) == []
    # They ride along: the reservation's state reads the limits, the ledger looks for
    # waiting preorders.
    assert any("purchase_limits" in s for s in seen)
    assert any("preorders" in s for s in seen)
    with statements() as seen:
        assert (await reserve(storefront, "DROP-1", 1, "cart-1"))["errors"] == []
    assert own(seen) == []
    assert len([s for s in seen if "AS held" in s and "FROM unnest" in s]) == 1
