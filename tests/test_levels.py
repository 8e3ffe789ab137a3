"""Inventory levels: creating one as the guide's Step 2 does, setting it absolutely, and the
level, list and per-product summary queries."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api import ids
from support import factories
from support.client import Client, operation

LEVEL = """
  id quantity onHand reserved committed incoming damaged quarantined available
  safetyStock reorderPoint reorderQuantity version
  product { sku } warehouse { code }
"""
MOVEMENT = "type quantity previousQuantity newQuantity reason"
ERRORS = "errors { field message code available requested currentVersion }"
CREATE = f"""
mutation($input: CreateInventoryLevelInput!) {{
  createInventoryLevel(input: $input) {{
    inventoryLevel {{ {LEVEL} }} movement {{ {MOVEMENT} }} {ERRORS}
  }}
}}"""
SET = f"""
mutation($input: SetInventoryLevelInput!) {{
  setInventoryLevel(input: $input) {{
    inventoryLevel {{ {LEVEL} }} movement {{ {MOVEMENT} }} {ERRORS}
  }}
}}"""
BY_IDS = f"""
query($p: ID!, $w: ID!) {{ inventoryLevel(productId: $p, warehouseId: $w) {{ {LEVEL} }} }}"""
BY_KEYS = f"""
query($sku: String!, $code: String!) {{
  inventoryLevel(sku: $sku, warehouseCode: $code) {{ {LEVEL} }}
}}"""


async def db(engine: AsyncEngine, sql: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(text(sql))).mappings()]


async def levels(engine: AsyncEngine) -> list[dict[str, Any]]:
    return await db(engine, "SELECT * FROM inventory_levels ORDER BY id")


async def movement_count(engine: AsyncEngine) -> int:
    return int((await db(engine, "SELECT count(*) AS n FROM inventory_movements"))[0]["n"])


def problems(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


@pytest.fixture
async def place(admin: Client) -> dict[str, str]:
    """A product and a warehouse with no level yet."""
    product = await factories.product(admin, "SKU-1")
    warehouse = await factories.warehouse(admin, "DC-001")
    return {"product": product["id"], "warehouse": warehouse["id"]}


# -- createInventoryLevel ----------------------------------------------------------------------


async def test_create_a_level_with_the_guides_step_2_fields(
    admin: Client, engine: AsyncEngine, place: dict[str, str]
) -> None:
    # What initializeProductInventory sends for each warehouse (its defaults filled in).
    step_2 = {
        "productId": place["product"],
        "warehouseId": place["warehouse"],
        "quantity": 150,
        "reservedQuantity": 0,
        "safetyStock": 10,
        "reorderPoint": 20,
        "reorderQuantity": 100,
    }
    payload = await admin.mutate("createInventoryLevel", CREATE, {"input": step_2})
    level = payload["inventoryLevel"]
    assert payload["errors"] == []
    assert (level["quantity"], level["onHand"], level["reserved"]) == (150, 150, 0)
    assert (level["safetyStock"], level["reorderPoint"], level["reorderQuantity"]) == (10, 20, 100)
    assert level["available"] == 140  # on hand less safety stock
    assert (level["product"]["sku"], level["warehouse"]["code"]) == ("SKU-1", "DC-001")
    # The initial stock is the level's first ledger movement.
    assert payload["movement"] == {
        "type": "INITIAL",
        "quantity": 150,
        "previousQuantity": 0,
        "newQuantity": 150,
        "reason": "initial stock",
    }
    [row] = await levels(engine)
    assert (row["on_hand"], row["safety_stock"], row["available"]) == (150, 10, 140)
    assert await movement_count(engine) == 1


async def test_create_by_sku_and_warehouse_code(admin: Client, place: dict[str, str]) -> None:
    payload = await admin.mutate(
        "createInventoryLevel",
        CREATE,
        {"input": {"sku": "SKU-1", "warehouseCode": "DC-001", "quantity": 7, "reason": "opening"}},
    )
    assert payload["inventoryLevel"]["quantity"] == 7
    assert payload["movement"]["reason"] == "opening"
    found = await admin(BY_IDS, {"p": place["product"], "w": place["warehouse"]})
    assert found["inventoryLevel"]["id"] == payload["inventoryLevel"]["id"]


async def test_a_level_created_empty_writes_no_movement(
    admin: Client, engine: AsyncEngine, place: dict[str, str]
) -> None:
    payload = await admin.mutate(
        "createInventoryLevel",
        CREATE,
        {"input": {"productId": place["product"], "warehouseId": place["warehouse"]}},
    )
    assert payload["inventoryLevel"]["quantity"] == 0
    assert payload["movement"] is None
    assert len(await levels(engine)) == 1
    assert await movement_count(engine) == 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"reservedQuantity": 5}, ("reservedQuantity", "INVALID"), id="reserved"),
        pytest.param({"quantity": -1}, ("quantity", "INVALID"), id="negative-quantity"),
        pytest.param({"safetyStock": -1}, ("safetyStock", "INVALID"), id="negative-safety"),
        pytest.param({"reorderPoint": -1}, ("reorderPoint", "INVALID"), id="negative-point"),
        pytest.param({"reorderQuantity": -9}, ("reorderQuantity", "INVALID"), id="negative-qty"),
        pytest.param({"quantity": 1_000_000_001}, ("quantity", "QUANTITY_OUT_OF_RANGE"), id="huge"),
        pytest.param(
            {"productId": ids.encode("Product", 9999)}, ("productId", "NOT_FOUND"), id="product"
        ),
        pytest.param(
            {"warehouseId": ids.encode("Warehouse", 9999)},
            ("warehouseId", "NOT_FOUND"),
            id="warehouse",
        ),
        pytest.param({"productId": None, "sku": "NOPE"}, ("sku", "NOT_FOUND"), id="unknown-sku"),
        pytest.param(
            {"warehouseId": None, "warehouseCode": "NOPE"},
            ("warehouseCode", "NOT_FOUND"),
            id="unknown-code",
        ),
        pytest.param({"productId": "bogus"}, ("productId", "INVALID_ID"), id="malformed"),
    ],
)
async def test_bad_new_levels_are_refused_and_write_nothing(
    admin: Client,
    engine: AsyncEngine,
    place: dict[str, str],
    change: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    given = {"productId": place["product"], "warehouseId": place["warehouse"], "quantity": 5}
    payload = (await admin(CREATE, {"input": {**given, **change}}))["createInventoryLevel"]
    assert payload["inventoryLevel"] is None
    assert problems(payload) == [expected]
    assert await levels(engine) == []
    assert await movement_count(engine) == 0


async def test_a_second_level_for_the_same_place_already_exists(
    admin: Client, engine: AsyncEngine, place: dict[str, str]
) -> None:
    await factories.level(admin, place["product"], place["warehouse"], 10)
    before = await levels(engine)
    again = {"productId": place["product"], "warehouseId": place["warehouse"], "quantity": 99}
    payload = (await admin(CREATE, {"input": again}))["createInventoryLevel"]
    assert problems(payload) == [("productId", "ALREADY_EXISTS")]
    assert await levels(engine) == before
    assert await movement_count(engine) == 1


async def test_reserved_quantity_is_refused_saying_how_to_hold_it(
    admin: Client, engine: AsyncEngine, place: dict[str, str]
) -> None:
    """The guide sends reservedQuantity; held stock comes from a reservation instead, and the
    refusal says which call makes it. Following the message gives the level the guide meant."""
    given = {"productId": place["product"], "warehouseId": place["warehouse"], "quantity": 20}
    refused = (await admin(CREATE, {"input": {**given, "reservedQuantity": 4}}))[
        "createInventoryLevel"
    ]
    [error] = refused["errors"]
    assert (error["field"], error["code"]) == ("reservedQuantity", "INVALID")
    assert "createReservation" in error["message"]
    assert "quantity: 4" in error["message"]
    assert await levels(engine) == []
    assert await movement_count(engine) == 0
    # As the message says: the level without it, then the reservation.
    await admin.mutate("createInventoryLevel", CREATE, {"input": given})
    held = await admin.mutate(
        "createReservation",
        operation("CreateReservation"),
        {"input": {**given, "quantity": 4, "type": "ORDER", "referenceId": "ERP-HOLDS"}},
    )
    assert held["reservation"]["quantity"] == 4
    level = (await admin(BY_IDS, {"p": place["product"], "w": place["warehouse"]}))[
        "inventoryLevel"
    ]
    assert (level["quantity"], level["committed"], level["available"]) == (20, 4, 16)


# -- setInventoryLevel -------------------------------------------------------------------------


@pytest.fixture
async def stocked(admin: Client, place: dict[str, str]) -> dict[str, str]:
    """The place with 100 on hand, safety stock 10."""
    await factories.level(admin, place["product"], place["warehouse"], 100, safetyStock=10)
    return place


async def set_level(admin: Client, place: dict[str, str], **values: Any) -> dict[str, Any]:
    variables = {
        "input": {"productId": place["product"], "warehouseId": place["warehouse"], **values}
    }
    return dict((await admin(SET, variables))["setInventoryLevel"])


async def test_set_is_absolute_and_records_the_difference(
    admin: Client, engine: AsyncEngine, stocked: dict[str, str]
) -> None:
    payload = await set_level(
        admin, stocked, quantity=40, safetyStock=5, reorderPoint=15, reason="count"
    )
    assert payload["errors"] == []
    level = payload["inventoryLevel"]
    assert (level["quantity"], level["safetyStock"], level["reorderPoint"]) == (40, 5, 15)
    assert level["available"] == 35
    assert level["version"] == 3  # created (1), initial stock (2), this set (3)
    assert payload["movement"] == {
        "type": "SET",
        "quantity": -60,
        "previousQuantity": 100,
        "newQuantity": 40,
        "reason": "count",
    }
    # The same value again is the same result: a set is not a delta.
    again = await set_level(admin, stocked, quantity=40)
    assert again["inventoryLevel"]["quantity"] == 40


async def test_set_leaves_values_it_is_not_given(admin: Client, stocked: dict[str, str]) -> None:
    payload = await set_level(admin, stocked, reorderQuantity=250)
    level = payload["inventoryLevel"]
    assert (level["quantity"], level["safetyStock"], level["reorderQuantity"]) == (100, 10, 250)


async def test_set_creates_a_missing_level(
    admin: Client, engine: AsyncEngine, place: dict[str, str]
) -> None:
    payload = await set_level(admin, place, quantity=12, safetyStock=2)
    assert payload["errors"] == []
    assert (payload["inventoryLevel"]["quantity"], payload["inventoryLevel"]["available"]) == (
        12,
        10,
    )
    assert payload["movement"]["previousQuantity"] == 0
    [row] = await levels(engine)
    assert row["on_hand"] == 12


async def test_set_with_an_expected_version_needs_an_existing_level(
    admin: Client, engine: AsyncEngine, place: dict[str, str]
) -> None:
    payload = await set_level(admin, place, quantity=12, expectedVersion=1)
    assert payload["inventoryLevel"] is None
    assert problems(payload) == [("productId", "NOT_FOUND")]
    assert await levels(engine) == []


async def test_set_checks_the_expected_version(
    admin: Client, engine: AsyncEngine, stocked: dict[str, str]
) -> None:
    current = await admin(BY_IDS, {"p": stocked["product"], "w": stocked["warehouse"]})
    version = current["inventoryLevel"]["version"]
    ok = await set_level(admin, stocked, quantity=90, expectedVersion=version)
    assert ok["inventoryLevel"]["version"] == version + 1
    before = await levels(engine)
    stale = await set_level(admin, stocked, quantity=80, expectedVersion=version)
    assert stale["inventoryLevel"] is None
    assert problems(stale) == [("expectedVersion", "VERSION_CONFLICT")]
    assert stale["errors"][0]["currentVersion"] == version + 1
    assert await levels(engine) == before


async def test_setting_unchanged_values_writes_no_movement(
    admin: Client, engine: AsyncEngine, stocked: dict[str, str]
) -> None:
    before = await levels(engine)
    payload = await set_level(admin, stocked, quantity=100, safetyStock=10)
    assert payload["errors"] == []
    assert payload["movement"] is None
    assert payload["inventoryLevel"]["version"] == before[0]["version"]
    assert await levels(engine) == before
    assert await movement_count(engine) == 1  # the initial stock only


async def test_set_may_not_go_below_what_is_held(
    admin: Client, engine: AsyncEngine, stocked: dict[str, str]
) -> None:
    held = await set_level(admin, stocked, damaged=30)
    assert held["inventoryLevel"]["available"] == 60  # 100 - 30 damaged - 10 safety stock
    before = await levels(engine)
    payload = await set_level(admin, stocked, quantity=20)
    assert payload["inventoryLevel"] is None
    assert problems(payload) == [("quantity", "INSUFFICIENT_STOCK")]
    assert payload["errors"][0]["available"] == 70  # free to count away: 100 - 30 held
    assert await levels(engine) == before
    # Marking more damaged than is on hand is refused the same way.
    too_many = await set_level(admin, stocked, damaged=101)
    assert problems(too_many) == [("damaged", "INSUFFICIENT_STOCK")]
    # Down to exactly what is held is fine; so is dipping into safety stock.
    exact = await set_level(admin, stocked, quantity=30)
    assert (exact["inventoryLevel"]["quantity"], exact["inventoryLevel"]["available"]) == (30, -10)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({}, ("quantity", "REQUIRED"), id="nothing-to-set"),
        pytest.param({"quantity": -1}, ("quantity", "INVALID"), id="negative"),
        pytest.param({"damaged": -1}, ("damaged", "INVALID"), id="negative-damaged"),
        pytest.param({"quantity": 1_000_000_001}, ("quantity", "QUANTITY_OUT_OF_RANGE"), id="huge"),
        pytest.param(
            {"quantity": 1, "timestamp": "2999-01-01T00:00:00Z"},
            ("timestamp", "INVALID"),
            id="future",
        ),
    ],
)
async def test_bad_sets_change_nothing(
    admin: Client,
    engine: AsyncEngine,
    stocked: dict[str, str],
    values: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    before = await levels(engine)
    payload = await set_level(admin, stocked, **values)
    assert problems(payload) == [expected]
    assert await levels(engine) == before
    assert await movement_count(engine) == 1


# -- queries ---------------------------------------------------------------------------------


async def test_one_level_by_ids_and_by_sku_and_code(admin: Client, stocked: dict[str, str]) -> None:
    by_op = await admin(
        operation("GetInventoryLevel"),
        {"productId": stocked["product"], "warehouseId": stocked["warehouse"]},
    )
    level = by_op["inventoryLevel"]
    assert (level["quantity"], level["reserved"], level["available"]) == (100, 0, 90)
    assert (level["safetyStock"], level["reorderPoint"], level["reorderQuantity"]) == (10, 0, 0)
    by_keys = (await admin(BY_KEYS, {"sku": "SKU-1", "code": "DC-001"}))["inventoryLevel"]
    assert by_keys["id"] == level["id"]
    assert (await admin(BY_KEYS, {"sku": "SKU-1", "code": "NOPE"}))["inventoryLevel"] is None
    assert (await admin(BY_KEYS, {"sku": "NOPE", "code": "DC-001"}))["inventoryLevel"] is None
    other = await factories.warehouse(admin, "DC-002")
    unstocked = await admin(BY_IDS, {"p": stocked["product"], "w": other["id"]})
    assert unstocked["inventoryLevel"] is None


async def test_one_level_needs_a_warehouse_and_says_where_to_look(
    admin: Client, stocked: dict[str, str]
) -> None:
    """getInventoryLevel({productId}) without a warehouse: a coded error naming the field and
    the query that answers for every warehouse."""
    for variables in ({"productId": stocked["product"]}, {"sku": "SKU-1"}):
        body = await admin.raw(
            "query($productId: ID, $sku: String) {"
            " inventoryLevel(productId: $productId, sku: $sku) { id } }",
            variables,
        )
        [error] = body["errors"]
        assert error["extensions"] == {"code": "REQUIRED", "field": "warehouseId"}
        assert "inventorySummary" in error["message"]
        assert body["data"] == {"inventoryLevel": None}
    # Which answers, as the message says.
    summary = await admin(
        "query($p: ID!) { inventorySummary(productId: $p) { levels { warehouse { code } } } }",
        {"p": stocked["product"]},
    )
    assert summary["inventorySummary"]["levels"] == [{"warehouse": {"code": "DC-001"}}]


LIST = """
query($first: Int, $after: String, $warehouseId: ID, $warehouseCode: String, $productId: ID,
      $sku: String, $below: Boolean = false, $zero: Boolean = false) {
  inventoryLevels(first: $first, after: $after, warehouseId: $warehouseId,
      warehouseCode: $warehouseCode, productId: $productId, sku: $sku,
      belowSafetyStock: $below, includeZero: $zero) {
    totalCount
    nodes { quantity product { sku } warehouse { code } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
async def grid(admin: Client) -> dict[str, str]:
    """Two warehouses, three products:
    A: DC-1 100 (safety 10), DC-2 5 (safety 10: below it);
    B: DC-1 0 (an empty level), DC-2 30;
    C: DC-1 10 (safety 10: nothing left above it)."""
    a = await factories.stocked(admin, "A", {"DC-1": 100, "DC-2": 5}, safetyStock=10)
    await factories.stocked(admin, "B", {"DC-1": 0, "DC-2": 30})
    await factories.stocked(admin, "C", {"DC-1": 10}, safetyStock=10)
    return a


def pairs(data: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [
        (n["product"]["sku"], n["warehouse"]["code"], n["quantity"])
        for n in data["inventoryLevels"]["nodes"]
    ]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        pytest.param(
            {},
            [("A", "DC-1", 100), ("A", "DC-2", 5), ("B", "DC-2", 30), ("C", "DC-1", 10)],
            id="all-but-empty",
        ),
        pytest.param(
            {"zero": True},
            [
                ("A", "DC-1", 100),
                ("A", "DC-2", 5),
                ("B", "DC-1", 0),
                ("B", "DC-2", 30),
                ("C", "DC-1", 10),
            ],
            id="include-zero",
        ),
        pytest.param(
            {"warehouseCode": "DC-2"}, [("A", "DC-2", 5), ("B", "DC-2", 30)], id="warehouse"
        ),
        pytest.param({"sku": "A"}, [("A", "DC-1", 100), ("A", "DC-2", 5)], id="product"),
        pytest.param(
            {"below": True}, [("A", "DC-2", 5), ("C", "DC-1", 10)], id="below-safety-stock"
        ),
        pytest.param(
            {"below": True, "zero": True},
            [("A", "DC-2", 5), ("B", "DC-1", 0), ("C", "DC-1", 10)],
            id="below-with-zero",
        ),
        pytest.param({"sku": "B", "warehouseCode": "DC-1"}, [], id="the-empty-one"),
        pytest.param({"sku": "NOPE"}, [], id="unknown-sku-matches-nothing"),
        pytest.param({"warehouseCode": "NOPE"}, [], id="unknown-code-matches-nothing"),
    ],
)
async def test_level_list_filters(
    admin: Client, grid: dict[str, str], variables: dict[str, Any], expected: list[Any]
) -> None:
    data = await admin(LIST, variables)
    assert pairs(data) == expected
    assert data["inventoryLevels"]["totalCount"] == len(expected)


async def test_level_list_filters_by_global_ids_and_pages(
    admin: Client, grid: dict[str, str]
) -> None:
    by_ids = await admin(LIST, {"productId": grid["product"], "warehouseId": grid["DC-1"]})
    assert pairs(by_ids) == [("A", "DC-1", 100)]
    first = await admin(LIST, {"first": 3, "zero": True})
    assert first["inventoryLevels"]["pageInfo"]["hasNextPage"] is True
    rest = await admin(
        LIST, {"zero": True, "after": first["inventoryLevels"]["pageInfo"]["endCursor"]}
    )
    assert rest["inventoryLevels"]["pageInfo"]["hasNextPage"] is False
    assert len(pairs(first)) + len(pairs(rest)) == 5
    assert set(pairs(first)).isdisjoint(pairs(rest))


SUMMARY = """
query($sku: String!) {
  inventorySummary(sku: $sku) {
    quantity onHand reserved committed damaged safetyStock available warehouseCount
    product { sku }
    levels { warehouse { code } quantity available }
  }
  product(sku: $sku) {
    inventory { quantity available warehouseCount }
    inventoryLevels { warehouse { code } quantity }
  }
}"""


async def test_summary_totals_and_breakdown(admin: Client, grid: dict[str, str]) -> None:
    await factories.level(
        admin, grid["product"], (await factories.warehouse(admin, "DC-3"))["id"], 50
    )
    data = await admin(SUMMARY, {"sku": "A"})
    summary = data["inventorySummary"]
    assert summary["product"] == {"sku": "A"}
    assert (summary["quantity"], summary["onHand"], summary["reserved"]) == (155, 155, 0)
    assert summary["safetyStock"] == 20
    # DC-2 is 5 short of its safety stock: it adds nothing, and takes nothing from the others.
    assert summary["available"] == 90 + 0 + 50
    assert summary["warehouseCount"] == 3
    assert summary["levels"] == [
        {"warehouse": {"code": "DC-1"}, "quantity": 100, "available": 90},
        {"warehouse": {"code": "DC-2"}, "quantity": 5, "available": -5},
        {"warehouse": {"code": "DC-3"}, "quantity": 50, "available": 50},
    ]
    # Product.inventory is the same summary, seen from the product.
    product = data["product"]
    assert product["inventory"] == {"quantity": 155, "available": 140, "warehouseCount": 3}
    assert [(x["warehouse"]["code"], x["quantity"]) for x in product["inventoryLevels"]] == [
        ("DC-1", 100),
        ("DC-2", 5),
        ("DC-3", 50),
    ]


async def test_summary_through_the_readme_operation_follows_changes(
    admin: Client, grid: dict[str, str]
) -> None:
    before = (await admin(operation("ProductInventory"), {"sku": "A"}))["inventorySummary"]
    assert (before["quantity"], before["available"], before["warehouseCount"]) == (105, 90, 2)
    assert [(x["warehouse"]["code"], x["available"]) for x in before["levels"]] == [
        ("DC-1", 90),
        ("DC-2", -5),
    ]
    await set_level(admin, {"product": grid["product"], "warehouse": grid["DC-1"]}, quantity=200)
    after = (await admin(operation("ProductInventory"), {"sku": "A"}))["inventorySummary"]
    assert (after["quantity"], after["available"]) == (205, 190)


async def test_summary_of_a_product_without_stock_and_of_an_unknown_one(admin: Client) -> None:
    await factories.product(admin, "LONELY")
    data = await admin(SUMMARY, {"sku": "LONELY"})
    assert data["inventorySummary"]["quantity"] == 0
    assert data["inventorySummary"]["warehouseCount"] == 0
    assert data["inventorySummary"]["levels"] == []
    assert data["product"]["inventory"] == {"quantity": 0, "available": 0, "warehouseCount": 0}
    assert (await admin(SUMMARY, {"sku": "NOPE"})) == {"inventorySummary": None, "product": None}


WHERE = operation("ProductWarehouses")
SUMMARY_WHERE = """
query($sku: String!, $min: Int) {
  inventorySummary(sku: $sku) { levels(minAvailable: $min) { warehouse { code } available } }
}"""


async def test_where_a_product_is_available_at_least_a_quantity(
    admin: Client, grid: dict[str, str]
) -> None:
    """getProductWarehouses({productId, minQuantity}): the warehouses where that many units are
    available (A: DC-1 90 available, DC-2 -5, DC-3 12), on the product and on its summary."""
    dc3 = await factories.warehouse(admin, "DC-3", priority=5)
    await factories.level(admin, grid["product"], dc3["id"], 12)
    cases = {None: ["DC-1", "DC-2", "DC-3"], 0: ["DC-1", "DC-3"], 12: ["DC-1", "DC-3"]}
    cases |= {13: ["DC-1"], 90: ["DC-1"], 91: []}
    for minimum, expected in cases.items():
        found = (await admin(WHERE, {"productId": grid["product"], "minAvailable": minimum}))[
            "product"
        ]["inventoryLevels"]
        assert [x["warehouse"]["code"] for x in found] == expected, minimum
        assert all(minimum is None or x["available"] >= minimum for x in found)
        summary = (await admin(SUMMARY_WHERE, {"sku": "A", "min": minimum}))["inventorySummary"]
        assert [x["warehouse"]["code"] for x in summary["levels"]] == expected, minimum
    # What the guide's warehouse selector reads of each: priority, available, address.
    found = (await admin(WHERE, {"productId": grid["product"], "minAvailable": 12}))["product"]
    by_code = {x["warehouse"]["code"]: x for x in found["inventoryLevels"]}
    assert (by_code["DC-3"]["warehouse"]["priority"], by_code["DC-3"]["available"]) == (5, 12)
    assert by_code["DC-3"]["warehouse"]["id"] == dc3["id"]


async def test_a_negative_minimum_is_refused_naming_it(admin: Client, grid: dict[str, str]) -> None:
    for document, variables in (
        (WHERE, {"productId": grid["product"], "minAvailable": -1}),
        (SUMMARY_WHERE, {"sku": "A", "min": -1}),
    ):
        body = await admin.raw(document, variables)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INVALID", "field": "minAvailable"}


async def test_where_a_product_is_needs_stock_reading(
    admin: Client, connector: Any, grid: dict[str, str]
) -> None:
    """A connector reads the catalog, not stock levels: its own channel's availability."""
    await admin.mutate(
        "createChannel",
        operation("CreateChannel"),
        {"input": {"code": "AMAZON", "name": "Amazon", "warehouseCodes": ["DC-1"]}},
    )
    client = await connector("AMAZON")
    body = await client.raw(WHERE, {"productId": grid["product"], "minAvailable": 1})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
