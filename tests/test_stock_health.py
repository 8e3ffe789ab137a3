"""Warehouse.stockHealth: each warehouse's levels counted out of stock, low or healthy by the
stock alerts' own rules, in one statement for all the warehouses asked for; and what the
viewer's role may do (Viewer.permissions), which a client uses to offer only that."""

from __future__ import annotations

import httpx

from onhand.auth.roles import GRANTS, Role
from support import channels, factories
from support.client import Client, Connector
from support.statements import statements

HEALTH = """query {
  warehouses { nodes { code stockHealth { levels outOfStock lowStock healthy } } }
}"""


async def test_levels_are_counted_by_the_alert_rules_at_their_edges(admin: Client) -> None:
    # No safety stock: low up to the configured threshold (10), inclusive.
    await factories.stocked(admin, "H-ZERO", {"H-1": 0})
    await factories.stocked(admin, "H-ONE", {"H-1": 1})
    await factories.stocked(admin, "H-TEN", {"H-1": 10})
    await factories.stocked(admin, "H-ELEVEN", {"H-1": 11})
    # A safety stock of 20 replaces the threshold: available is on hand less the safety stock.
    await factories.stocked(admin, "H-SAFE-LOW", {"H-1": 40}, safetyStock=20)  # available 20
    await factories.stocked(admin, "H-SAFE-OK", {"H-1": 41}, safetyStock=20)  # available 21
    await factories.stocked(admin, "H-SAFE-OUT", {"H-1": 15}, safetyStock=20)  # available -5
    await factories.warehouse(admin, "H-EMPTY")

    found = {w["code"]: w["stockHealth"] for w in (await admin(HEALTH))["warehouses"]["nodes"]}
    assert found["H-1"] == {"levels": 7, "outOfStock": 2, "lowStock": 3, "healthy": 2}
    assert found["H-EMPTY"] == {"levels": 0, "outOfStock": 0, "lowStock": 0, "healthy": 0}


async def test_every_warehouse_is_counted_in_one_statement(admin: Client) -> None:
    for n in range(5):
        await factories.stocked(admin, f"H-{n}", {f"H-WH-{n}": n})
    with statements() as seen:
        found = (await admin(HEALTH))["warehouses"]["nodes"]
    assert len(found) == 5
    assert len([s for s in seen if "AS out_of_stock" in s]) == 1


async def test_a_token_without_stock_access_is_refused_the_counts(
    admin: Client, connector: Connector
) -> None:
    await factories.stocked(admin, "H-C", {"H-C1": 3})
    await channels.channel(admin, "HC", ["H-C1"])
    bound = await connector("HC")
    body = await bound.raw(HEALTH)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def test_the_viewer_says_what_its_role_may_do(
    http: httpx.AsyncClient, tokens: dict[Role, str]
) -> None:
    for role, token in tokens.items():
        viewer = (await Client(http, token)("{ viewer { name role permissions } }"))["viewer"]
        assert viewer["role"] == role.value
        assert set(viewer["permissions"]) == {str(p) for p in GRANTS[role]}
