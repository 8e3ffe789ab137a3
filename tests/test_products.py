"""Products: create, edit, bulk upsert by SKU (all lines or none), and the queries."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api import ids
from onhand.inventory.products import MAX_UPSERT
from support.client import Client

FIELDS = "id sku name externalProductId externalVariantId isActive version"
ERRORS = "errors { field message code currentVersion }"
CREATE = f"""
mutation($input: CreateProductInput!) {{
  createProduct(input: $input) {{ product {{ {FIELDS} }} {ERRORS} }}
}}"""
UPDATE = f"""
mutation($input: UpdateProductInput!) {{
  updateProduct(input: $input) {{ product {{ {FIELDS} }} {ERRORS} }}
}}"""
UPSERT = f"""
mutation($input: UpsertProductsInput!) {{
  upsertProducts(input: $input) {{
    products {{ {FIELDS} }}
    createdCount updatedCount unchangedCount
    {ERRORS}
  }}
}}"""
ONE = f"query($id: ID, $sku: String) {{ product(id: $id, sku: $sku) {{ {FIELDS} }} }}"
LIST = """
query($first: Int, $after: String, $search: String, $isActive: Boolean, $skus: [String!]) {
  products(first: $first, after: $after, search: $search, isActive: $isActive, skus: $skus) {
    totalCount
    nodes { sku }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM products ORDER BY id"))
        return [dict(row) for row in result.mappings()]


async def create(admin: Client, sku: str, **values: Any) -> dict[str, Any]:
    payload = await admin.mutate(
        "createProduct", CREATE, {"input": {"sku": sku, "name": f"Product {sku}", **values}}
    )
    return dict(payload["product"])


def problems(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


# -- createProduct / updateProduct -------------------------------------------------------------


async def test_create_a_product_with_every_field(admin: Client, engine: AsyncEngine) -> None:
    made = await create(
        admin,
        "TSHIRT-RED-M",
        name="  T-shirt, red, M  ",
        externalProductId="gid://shop/Product/1",
        externalVariantId="gid://shop/ProductVariant/11",
        isActive=False,
    )
    assert made["sku"] == "TSHIRT-RED-M"
    assert made["name"] == "T-shirt, red, M"  # surrounding spaces are not part of a name
    assert made["externalProductId"] == "gid://shop/Product/1"
    assert made["externalVariantId"] == "gid://shop/ProductVariant/11"
    assert made["isActive"] is False
    assert made["version"] == 1
    [row] = await rows(engine)
    assert (row["sku"], row["is_active"]) == ("TSHIRT-RED-M", False)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({"sku": "", "name": "x"}, [("sku", "INVALID")], id="empty-sku"),
        pytest.param({"sku": " PAD", "name": "x"}, [("sku", "INVALID")], id="padded-sku"),
        pytest.param({"sku": "S" * 129, "name": "x"}, [("sku", "INVALID")], id="long-sku"),
        pytest.param({"sku": "OK-1", "name": "   "}, [("name", "REQUIRED")], id="blank-name"),
        pytest.param({"sku": "OK-1", "name": "n" * 301}, [("name", "INVALID")], id="long-name"),
        pytest.param(
            {"sku": "OK-1", "name": "x", "externalProductId": "e" * 201},
            [("externalProductId", "INVALID")],
            id="long-external-id",
        ),
        pytest.param(
            {"sku": "", "name": ""}, [("sku", "INVALID"), ("name", "REQUIRED")], id="both"
        ),
    ],
)
async def test_a_bad_new_product_is_refused_naming_its_fields(
    admin: Client, engine: AsyncEngine, values: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    payload = (await admin(CREATE, {"input": values}))["createProduct"]
    assert payload["product"] is None
    assert problems(payload) == expected
    assert await rows(engine) == []


async def test_a_duplicate_sku_is_refused(admin: Client, engine: AsyncEngine) -> None:
    await create(admin, "SKU-1")
    payload = (await admin(CREATE, {"input": {"sku": "SKU-1", "name": "Again"}}))["createProduct"]
    assert problems(payload) == [("sku", "ALREADY_EXISTS")]
    assert [r["name"] for r in await rows(engine)] == ["Product SKU-1"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"sku": "SKU-RENAMED"}, id="sku"),
        pytest.param({"name": "New name"}, id="name"),
        pytest.param({"externalProductId": "P-9"}, id="externalProductId"),
        pytest.param({"externalVariantId": "V-9"}, id="externalVariantId"),
        pytest.param({"externalProductId": None}, id="clear-externalProductId"),
        pytest.param({"isActive": False}, id="isActive"),
    ],
)
async def test_each_product_field_can_be_updated_alone(
    admin: Client, change: dict[str, Any]
) -> None:
    before = await create(admin, "SKU-1", externalProductId="P-1", externalVariantId="V-1")
    payload = (await admin(UPDATE, {"input": {"id": before["id"], **change}}))["updateProduct"]
    assert payload["errors"] == []
    after = payload["product"]
    assert after == {**before, **change, "version": before["version"] + 1}
    assert (await admin(ONE, {"id": before["id"]}))["product"] == after


async def test_product_edits_check_the_expected_version(admin: Client, engine: AsyncEngine) -> None:
    made = await create(admin, "SKU-1")
    ok = await admin(UPDATE, {"input": {"id": made["id"], "name": "B", "expectedVersion": 1}})
    assert ok["updateProduct"]["product"]["version"] == 2
    stale = (await admin(UPDATE, {"input": {"id": made["id"], "name": "C", "expectedVersion": 1}}))[
        "updateProduct"
    ]
    assert stale["product"] is None
    assert problems(stale) == [("expectedVersion", "VERSION_CONFLICT")]
    assert stale["errors"][0]["currentVersion"] == 2
    [row] = await rows(engine)
    assert (row["name"], row["version"]) == ("B", 2)


@pytest.mark.parametrize(
    ("product_id", "change", "expected"),
    [
        pytest.param(ids.encode("Product", 987654), {"name": "x"}, ("id", "NOT_FOUND"), id="gone"),
        pytest.param("garbage", {"name": "x"}, ("id", "INVALID_ID"), id="garbage"),
        pytest.param(ids.encode("Warehouse", 1), {"name": "x"}, ("id", "INVALID_ID"), id="type"),
        pytest.param(None, {"sku": "SKU-2"}, ("sku", "ALREADY_EXISTS"), id="taken-sku"),
        pytest.param(None, {"sku": "bad "}, ("sku", "INVALID"), id="bad-sku"),
        pytest.param(None, {"name": ""}, ("name", "REQUIRED"), id="blank-name"),
        pytest.param(None, {"isActive": None}, ("isActive", "INVALID"), id="null-flag"),
    ],
)
async def test_bad_product_updates_change_nothing(
    admin: Client,
    engine: AsyncEngine,
    product_id: str | None,
    change: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    first = await create(admin, "SKU-1")
    await create(admin, "SKU-2")
    before = await rows(engine)
    variables = {"input": {"id": product_id or first["id"], **change}}
    payload = (await admin(UPDATE, variables))["updateProduct"]
    assert payload["product"] is None
    assert problems(payload) == [expected]
    assert await rows(engine) == before


# -- upsertProducts ----------------------------------------------------------------------------


async def upsert(admin: Client, products: list[dict[str, Any]]) -> dict[str, Any]:
    return dict((await admin(UPSERT, {"input": {"products": products}}))["upsertProducts"])


async def test_upsert_creates_updates_and_leaves_alone(admin: Client, engine: AsyncEngine) -> None:
    first = await upsert(
        admin,
        [
            {"sku": "A", "name": "Apple"},
            {"sku": "B", "name": "Banana", "externalProductId": "ext-b"},
        ],
    )
    assert first["errors"] == []
    assert (first["createdCount"], first["updatedCount"], first["unchangedCount"]) == (2, 0, 0)
    second = await upsert(
        admin,
        [
            {"sku": "C", "name": "Cherry"},  # new
            {"sku": "A", "name": "Apple"},  # the same as stored
            {"sku": "B", "name": "Blueberry", "externalProductId": "ext-b"},  # renamed
        ],
    )
    assert second["errors"] == []
    assert (second["createdCount"], second["updatedCount"], second["unchangedCount"]) == (1, 1, 1)
    # The products come back in the order they were sent, as stored now.
    assert [(p["sku"], p["name"], p["version"]) for p in second["products"]] == [
        ("C", "Cherry", 1),
        ("A", "Apple", 1),
        ("B", "Blueberry", 2),
    ]
    assert [(r["sku"], r["name"], r["version"]) for r in await rows(engine)] == [
        ("A", "Apple", 1),
        ("B", "Blueberry", 2),
        ("C", "Cherry", 1),
    ]


async def test_upsert_reports_a_duplicate_sku_per_line_and_writes_nothing(
    admin: Client, engine: AsyncEngine
) -> None:
    await upsert(admin, [{"sku": "A", "name": "Apple"}])
    before = await rows(engine)
    payload = await upsert(
        admin,
        [
            {"sku": "NEW", "name": "New"},
            {"sku": "A", "name": "Apricot"},
            {"sku": "A", "name": "Avocado"},
            {"sku": "NEW", "name": "Newer"},
        ],
    )
    assert payload["products"] == []
    assert problems(payload) == [("products.2.sku", "INVALID"), ("products.3.sku", "INVALID")]
    assert "also at 1" in payload["errors"][0]["message"]
    assert "also at 0" in payload["errors"][1]["message"]
    assert await rows(engine) == before


async def test_upsert_writes_nothing_when_any_line_is_bad(
    admin: Client, engine: AsyncEngine
) -> None:
    await upsert(admin, [{"sku": "A", "name": "Apple"}])
    before = await rows(engine)
    payload = await upsert(
        admin,
        [
            {"sku": "A", "name": "Renamed"},  # a good update
            {"sku": "NEW-1", "name": "Fine"},  # a good insert
            {"sku": "NEW-2", "name": " "},  # blank name
            {"sku": "bad sku ", "name": "Trailing space"},
        ],
    )
    assert payload["products"] == []
    assert (payload["createdCount"], payload["updatedCount"]) == (0, 0)
    assert problems(payload) == [("products.2.name", "REQUIRED"), ("products.3.sku", "INVALID")]
    assert await rows(engine) == before


async def test_upsert_refuses_too_many_products_at_once(admin: Client, engine: AsyncEngine) -> None:
    many = [{"sku": f"S-{i}", "name": f"N {i}"} for i in range(MAX_UPSERT + 1)]
    payload = await upsert(admin, many)
    assert problems(payload) == [("products", "INVALID")]
    assert await rows(engine) == []


# -- queries ---------------------------------------------------------------------------------


async def test_one_product_by_id_or_by_sku(admin: Client) -> None:
    made = await create(admin, "SKU-1", externalProductId="P-1")
    by_id = (await admin(ONE, {"id": made["id"]}))["product"]
    by_sku = (await admin(ONE, {"sku": "SKU-1"}))["product"]
    assert by_id == by_sku == made
    assert (await admin(ONE, {"sku": "sku-1"}))["product"] is None  # SKUs are exact
    assert (await admin(ONE, {"id": ids.encode("Product", 999_999)}))["product"] is None
    assert (await admin(ONE, {}))["product"] is None


@pytest.fixture
async def catalog(admin: Client) -> None:
    await upsert(
        admin,
        [
            {"sku": "TEE-RED-S", "name": "Red T-Shirt S"},
            {"sku": "TEE-RED-M", "name": "Red T-Shirt M"},
            {"sku": "TEE-BLU-M", "name": "Blue T-Shirt M", "isActive": False},
            {"sku": "MUG-001", "name": "Coffee mug"},
            {"sku": "CAP_01", "name": "Cap 100%"},
        ],
    )


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        pytest.param({}, ["TEE-RED-S", "TEE-RED-M", "TEE-BLU-M", "MUG-001", "CAP_01"], id="all"),
        pytest.param({"search": "red"}, ["TEE-RED-S", "TEE-RED-M"], id="search-sku-any-case"),
        pytest.param({"search": "t-shirt m"}, ["TEE-RED-M", "TEE-BLU-M"], id="search-name"),
        pytest.param({"search": "100%"}, ["CAP_01"], id="search-percent-literally"),
        pytest.param({"search": "P_0"}, ["CAP_01"], id="search-underscore-literally"),
        pytest.param({"isActive": False}, ["TEE-BLU-M"], id="inactive"),
        pytest.param({"isActive": True, "search": "tee"}, ["TEE-RED-S", "TEE-RED-M"], id="both"),
        pytest.param({"skus": ["MUG-001", "NOPE"]}, ["MUG-001"], id="skus"),
    ],
)
async def test_product_search_and_filters(
    admin: Client, catalog: None, variables: dict[str, Any], expected: list[str]
) -> None:
    data = (await admin(LIST, variables))["products"]
    assert [node["sku"] for node in data["nodes"]] == expected
    assert data["totalCount"] == len(expected)


async def test_products_page_by_page(admin: Client, catalog: None) -> None:
    seen: list[str] = []
    after = None
    while True:
        data = (await admin(LIST, {"first": 2, "after": after}))["products"]
        assert data["totalCount"] == 5
        seen += [node["sku"] for node in data["nodes"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert seen == ["TEE-RED-S", "TEE-RED-M", "TEE-BLU-M", "MUG-001", "CAP_01"]
    # A search pages within its matches.
    page = (await admin(LIST, {"first": 1, "search": "red"}))["products"]
    rest = await admin(LIST, {"search": "red", "after": page["pageInfo"]["endCursor"]})
    assert [n["sku"] for n in page["nodes"] + rest["products"]["nodes"]] == [
        "TEE-RED-S",
        "TEE-RED-M",
    ]
    assert rest["products"]["pageInfo"]["hasNextPage"] is False
