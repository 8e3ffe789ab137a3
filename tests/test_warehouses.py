"""Warehouses: createWarehouse as the guide calls it, version-checked edits, and the queries."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api import ids
from support import factories
from support.client import Client, operation

# The guide's Step 1 variables, verbatim.
SEED_VARIABLES = {
    "input": {
        "name": "Main Distribution Center",
        "code": "DC-001",
        "address": {
            "street": "123 Warehouse Way",
            "city": "Dallas",
            "state": "TX",
            "postalCode": "75201",
            "country": "US",
        },
        "timezone": "America/Chicago",
        "isActive": True,
        "priority": 1,
        "capabilities": ["SHIPPING", "RECEIVING", "STORAGE"],
    }
}

FIELDS = """
  id code name timezone isActive priority capabilities allowBackorders version
  address { street city state postalCode country latitude longitude }
"""
CREATE = f"""
mutation($input: CreateWarehouseInput!) {{
  createWarehouse(input: $input) {{
    warehouse {{ {FIELDS} }}
    errors {{ field message code }}
  }}
}}"""
UPDATE = f"""
mutation($input: UpdateWarehouseInput!) {{
  updateWarehouse(input: $input) {{
    warehouse {{ {FIELDS} }}
    errors {{ field message code currentVersion }}
  }}
}}"""
BY_ID = f"query($id: ID!) {{ warehouse(id: $id) {{ {FIELDS} }} }}"
BY_CODE = f"query($code: String!) {{ warehouse(code: $code) {{ {FIELDS} }} }}"
LIST = """
query($first: Int, $after: String, $filter: WarehouseFilterInput) {
  warehouses(first: $first, after: $after, filter: $filter) {
    totalCount
    edges { cursor node { code } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM warehouses ORDER BY id"))
        return [dict(row) for row in result.mappings()]


async def create(admin: Client, **values: Any) -> dict[str, Any]:
    payload = await admin.mutate("createWarehouse", CREATE, {"input": values})
    return dict(payload["warehouse"])


async def update(admin: Client, **values: Any) -> dict[str, Any]:
    return dict((await admin(UPDATE, {"input": values}))["updateWarehouse"])


# -- createWarehouse ---------------------------------------------------------------------------


async def test_the_guides_create_warehouse_document_and_variables(
    admin: Client, engine: AsyncEngine
) -> None:
    payload = await admin.mutate("createWarehouse", operation("CreateWarehouse"), SEED_VARIABLES)
    made = payload["warehouse"]
    given = SEED_VARIABLES["input"]
    assert payload["errors"] == []
    assert made["name"] == given["name"]
    assert made["code"] == "DC-001"
    assert made["address"] == given["address"]
    assert made["timezone"] == "America/Chicago"
    assert made["isActive"] is True
    assert made["priority"] == 1
    assert sorted(made["capabilities"]) == sorted(given["capabilities"])
    # It is stored: found again by its id and its code, one row in the table.
    again = (await admin(BY_CODE, {"code": "DC-001"}))["warehouse"]
    assert again["id"] == made["id"]
    [row] = await rows(engine)
    assert (row["code"], row["city"], row["postal_code"]) == ("DC-001", "Dallas", "75201")


async def test_defaults_of_a_new_warehouse(admin: Client) -> None:
    made = await create(admin, code="DC-2", name="Second")
    assert made["timezone"] == "UTC"
    assert made["isActive"] is True
    assert made["priority"] == 0
    assert made["capabilities"] == []
    assert made["allowBackorders"] is False
    assert made["version"] == 1
    assert made["address"] == dict.fromkeys(
        ("street", "city", "state", "postalCode", "country", "latitude", "longitude")
    )


async def test_a_duplicate_code_is_refused(admin: Client, engine: AsyncEngine) -> None:
    await create(admin, code="DC-1", name="First")
    payload = (await admin(CREATE, {"input": {"code": "DC-1", "name": "Again"}}))["createWarehouse"]
    assert payload["warehouse"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("code", "ALREADY_EXISTS")]
    assert [r["name"] for r in await rows(engine)] == ["First"]


async def test_every_bad_field_of_a_new_warehouse_is_reported_at_once(
    admin: Client, engine: AsyncEngine
) -> None:
    bad = {
        "code": "no spaces allowed",
        "name": "  ",
        "timezone": "Mars/Olympus_Mons",
        "priority": 5000,
        "address": {"latitude": 91.0, "longitude": -181.0},
    }
    payload = (await admin(CREATE, {"input": bad}))["createWarehouse"]
    assert payload["warehouse"] is None
    found = {(e["field"], e["code"]) for e in payload["errors"]}
    assert found == {
        ("code", "INVALID"),
        ("name", "REQUIRED"),
        ("timezone", "INVALID"),
        ("priority", "INVALID"),
        ("latitude", "INVALID"),
        ("longitude", "INVALID"),
    }
    assert await rows(engine) == []


# -- updateWarehouse ---------------------------------------------------------------------------


async def test_a_warehouse_is_updated_by_its_code_as_it_was_created(admin: Client) -> None:
    made = (await admin.mutate("createWarehouse", CREATE, SEED_VARIABLES))["warehouse"]
    renamed = await update(admin, warehouseCode=made["code"], code="DC-RENAMED", name="Renamed")
    assert renamed["errors"] == []
    assert renamed["warehouse"]["id"] == made["id"]
    assert (renamed["warehouse"]["code"], renamed["warehouse"]["name"]) == ("DC-RENAMED", "Renamed")
    # Named once, exactly: by id or by code.
    for named, field, code in (
        ({}, "id", "REQUIRED"),
        ({"id": made["id"], "warehouseCode": "DC-RENAMED"}, "id", "INVALID"),
        ({"warehouseCode": made["code"]}, "warehouseCode", "NOT_FOUND"),  # renamed away
    ):
        refused = await update(admin, name="x", **named)
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [(field, code)], named


EDITS = [
    pytest.param({"name": "Renamed"}, {"name": "Renamed"}, id="name"),
    pytest.param({"code": "DC-NEW"}, {"code": "DC-NEW"}, id="code"),
    pytest.param({"timezone": "Europe/Paris"}, {"timezone": "Europe/Paris"}, id="timezone"),
    pytest.param({"isActive": False}, {"isActive": False}, id="isActive"),
    pytest.param({"priority": -5}, {"priority": -5}, id="priority"),
    pytest.param(
        {"capabilities": ["PICKUP", "RETURNS"]}, {"capabilities": ["PICKUP", "RETURNS"]}, id="caps"
    ),
    pytest.param({"allowBackorders": True}, {"allowBackorders": True}, id="allowBackorders"),
]


@pytest.mark.parametrize(("change", "expected"), EDITS)
async def test_each_field_can_be_updated_alone(
    admin: Client, change: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = (await admin.mutate("createWarehouse", CREATE, SEED_VARIABLES))["warehouse"]
    payload = await update(admin, id=before["id"], **change)
    assert payload["errors"] == []
    after = payload["warehouse"]
    assert after["version"] == before["version"] + 1
    for name, value in expected.items():
        assert after[name] == value
    # Every other field is untouched.
    untouched = {k: v for k, v in before.items() if k not in expected and k != "version"}
    assert {k: after[k] for k in untouched} == untouched
    # And the change is stored.
    assert (await admin(BY_ID, {"id": before["id"]}))["warehouse"] == after


async def test_an_address_is_updated_part_by_part(admin: Client) -> None:
    """The parts of an address sent in an update change; the parts left out stay; an explicit
    null clears a part; an update without an address leaves it alone."""
    before = (await admin.mutate("createWarehouse", CREATE, SEED_VARIABLES))["warehouse"]
    renamed = await update(admin, id=before["id"], name="Renamed")
    assert renamed["warehouse"]["address"] == before["address"]
    payload = await update(
        admin,
        id=before["id"],
        address={"city": "Austin", "state": None, "latitude": 30.27, "longitude": -97.74},
    )
    assert payload["errors"] == []
    assert payload["warehouse"]["address"] == {
        **before["address"],
        "city": "Austin",
        "state": None,
        "latitude": 30.27,
        "longitude": -97.74,
    }


async def test_expected_version_guards_an_edit(admin: Client, engine: AsyncEngine) -> None:
    made = await create(admin, code="DC-1", name="First")
    first = await update(admin, id=made["id"], name="Second", expectedVersion=1)
    assert first["errors"] == []
    assert first["warehouse"]["version"] == 2
    stale = await update(admin, id=made["id"], name="Third", expectedVersion=1)
    assert stale["warehouse"] is None
    assert stale["errors"] == [
        {
            "field": "expectedVersion",
            "code": "VERSION_CONFLICT",
            "currentVersion": 2,
            "message": stale["errors"][0]["message"],
        }
    ]
    [row] = await rows(engine)
    assert (row["name"], row["version"]) == ("Second", 2)


async def test_taking_another_warehouses_code_is_refused(
    admin: Client, engine: AsyncEngine
) -> None:
    await create(admin, code="DC-1", name="One")
    second = await create(admin, code="DC-2", name="Two")
    payload = await update(admin, id=second["id"], code="DC-1", name="Stolen")
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("code", "ALREADY_EXISTS")]
    assert [(r["code"], r["name"], r["version"]) for r in await rows(engine)] == [
        ("DC-1", "One", 1),
        ("DC-2", "Two", 1),
    ]


async def test_an_unknown_warehouse_is_not_found(admin: Client) -> None:
    payload = await update(admin, id=ids.encode("Warehouse", 424242), name="Ghost")
    assert payload["warehouse"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("id", "NOT_FOUND")]


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param(ids.encode("Product", 1), id="a-product-id"),
        pytest.param(ids.encode("Warehouse", -3), id="negative"),
    ],
)
async def test_a_malformed_id_is_invalid(admin: Client, bad_id: str) -> None:
    payload = await update(admin, id=bad_id, name="X")
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("id", "INVALID_ID")]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"timezone": "Not/AZone"}, "timezone", id="timezone"),
        pytest.param({"timezone": None}, "timezone", id="timezone-null"),
        pytest.param({"address": {"latitude": -90.5}}, "latitude", id="latitude"),
        pytest.param({"address": {"longitude": 180.1}}, "longitude", id="longitude"),
        pytest.param({"priority": 1001}, "priority", id="priority"),
        pytest.param({"priority": None}, "priority", id="priority-null"),
        pytest.param({"code": "-starts-with-dash"}, "code", id="code"),
        pytest.param({"code": "x" * 65}, "code", id="code-too-long"),
        pytest.param({"name": "n" * 201}, "name", id="name-too-long"),
        pytest.param({"isActive": None}, "isActive", id="isActive-null"),
    ],
)
async def test_an_invalid_value_is_refused_naming_its_field(
    admin: Client, engine: AsyncEngine, change: dict[str, Any], field: str
) -> None:
    made = await create(admin, code="DC-1", name="First")
    before = await rows(engine)
    payload = await update(admin, id=made["id"], **change)
    assert payload["warehouse"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID")]
    assert await rows(engine) == before


# -- queries ---------------------------------------------------------------------------------


@pytest.fixture
async def five(admin: Client) -> list[str]:
    """Five warehouses with different states; their codes in creation order."""
    specs = [
        {"code": "DAL-1", "name": "Dallas Main", "capabilities": ["SHIPPING", "STORAGE"]},
        {"code": "DAL-2", "name": "Dallas Overflow", "capabilities": ["STORAGE"]},
        {"code": "AUS-1", "name": "Austin Store", "capabilities": ["PICKUP", "RETURNS"]},
        {"code": "HOU-1", "name": "Houston", "isActive": False, "capabilities": ["SHIPPING"]},
        {"code": "SEA-1", "name": "Seattle", "isActive": False},
    ]
    for spec in specs:
        await create(admin, **spec)
    return [spec["code"] for spec in specs]


async def codes(admin: Client, **variables: Any) -> list[str]:
    data = (await admin(LIST, variables))["warehouses"]
    return [edge["node"]["code"] for edge in data["edges"]]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        pytest.param({}, ["DAL-1", "DAL-2", "AUS-1", "HOU-1", "SEA-1"], id="none"),
        pytest.param({"isActive": True}, ["DAL-1", "DAL-2", "AUS-1"], id="active"),
        pytest.param({"isActive": False}, ["HOU-1", "SEA-1"], id="inactive"),
        pytest.param({"capability": "SHIPPING"}, ["DAL-1", "HOU-1"], id="shipping"),
        pytest.param({"capability": "PICKUP"}, ["AUS-1"], id="pickup"),
        pytest.param({"search": "dallas"}, ["DAL-1", "DAL-2"], id="search-name-any-case"),
        pytest.param({"search": "hou-"}, ["HOU-1"], id="search-code"),
        pytest.param({"search": "%"}, [], id="search-is-not-a-pattern"),
        pytest.param({"codes": ["SEA-1", "AUS-1", "NOPE"]}, ["AUS-1", "SEA-1"], id="codes"),
        pytest.param(
            {"isActive": True, "capability": "STORAGE", "search": "overflow"},
            ["DAL-2"],
            id="combined",
        ),
    ],
)
async def test_warehouse_filters(
    admin: Client, five: list[str], filter_: dict[str, Any], expected: list[str]
) -> None:
    data = (await admin(LIST, {"filter": filter_}))["warehouses"]
    assert [edge["node"]["code"] for edge in data["edges"]] == expected
    assert data["totalCount"] == len(expected)


async def test_pages_walk_the_whole_list_once(admin: Client, five: list[str]) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = (await admin(LIST, {"first": 2, "after": after}))["warehouses"]
        pages += 1
        assert data["totalCount"] == 5  # across all pages, whichever page is asked for
        assert len(data["edges"]) <= 2
        seen += [edge["node"]["code"] for edge in data["edges"]]
        info = data["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        assert info["endCursor"] == data["edges"][-1]["cursor"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert pages == 3
    assert seen == five


async def test_a_filtered_list_pages_within_the_filter(admin: Client, five: list[str]) -> None:
    first = (await admin(LIST, {"first": 1, "filter": {"isActive": False}}))["warehouses"]
    assert [e["node"]["code"] for e in first["edges"]] == ["HOU-1"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["totalCount"] == 2
    rest = await codes(
        admin, first=5, after=first["pageInfo"]["endCursor"], filter={"isActive": False}
    )
    assert rest == ["SEA-1"]


async def test_one_warehouse_by_id_or_by_code(admin: Client, five: list[str]) -> None:
    made = await factories.warehouse(admin, "NEW-1")
    by_id = (await admin(BY_ID, {"id": made["id"]}))["warehouse"]
    by_code = (await admin(BY_CODE, {"code": "NEW-1"}))["warehouse"]
    assert by_id == by_code
    assert by_id["code"] == "NEW-1"
    assert (await admin(BY_CODE, {"code": "NOPE"}))["warehouse"] is None
    gone = ids.encode("Warehouse", 999_999)
    assert (await admin(BY_ID, {"id": gone}))["warehouse"] is None
    assert (await admin("{ warehouse { id } }"))["warehouse"] is None
