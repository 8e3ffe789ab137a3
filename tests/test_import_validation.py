"""Every bad row is reported with its line, column and reason, before anything is written; a
file with any problem changes nothing."""

from __future__ import annotations

import base64

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.client import Client
from support.imports import counts, import_csv, problems, stock, upload

HEADER = "SKU,WarehouseCode,Quantity"
# {pid} is V-1's product id; {other} another product's; {missing} an id no product has.
CASES = {
    "unknown warehouse": ("V-1,DC-9,1", {}, {(2, "WarehouseCode", "NOT_FOUND")}),
    "no warehouse": ("V-1,,1", {}, {(2, "WarehouseCode", "REQUIRED")}),
    "unknown SKU": ("V-404,DC-1,1", {}, {(2, "SKU", "NOT_FOUND")}),
    "no product at all": (",DC-1,1", {}, {(2, "SKU", "REQUIRED")}),
    "negative quantity": ("V-1,DC-1,-1", {}, {(2, "Quantity", "INVALID")}),
    "fractional quantity": ("V-1,DC-1,2.5", {}, {(2, "Quantity", "INVALID")}),
    "text for a quantity": ("V-1,DC-1,ten", {}, {(2, "Quantity", "INVALID")}),
    "no quantity": ("V-1,DC-1,", {}, {(2, "Quantity", "REQUIRED")}),
    "huge quantity": ("V-1,DC-1,5000000000", {}, {(2, "Quantity", "QUANTITY_OUT_OF_RANGE")}),
    "delta beyond what a level can hold": (
        "V-1,DC-1,999999999",
        # 1,000,000,000 set, then as much again added: 2,000,000,000 on hand.
        {
            "mode": "ADJUST",
            "_setup": [("V-1,DC-1,1000000000", "SET"), ("V-1,DC-1,1000000000", "ADJUST")],
        },
        {(2, "Quantity", "QUANTITY_OUT_OF_RANGE")},
    ),
    "duplicate SKU and warehouse": (
        "V-1,DC-1,1\nV-2,DC-1,2\nV-1,DC-1,3",
        {},
        {(4, "SKU", "INVALID")},
    ),
    "duplicate through ProductID": (
        "V-1,,DC-1,1\n,{pid},DC-1,2",
        {"_header": "SKU,ProductID,WarehouseCode,Quantity"},
        {(3, "SKU", "INVALID")},
    ),
    "malformed ProductID": (
        "xyz,DC-1,1",
        {"_header": "ProductID,WarehouseCode,Quantity"},
        {(2, "ProductID", "INVALID_ID")},
    ),
    "ProductID of no product": (
        "{missing},DC-1,1",
        {"_header": "ProductID,WarehouseCode,Quantity"},
        {(2, "ProductID", "NOT_FOUND")},
    ),
    "ProductID and SKU disagree": (
        "V-1,{other},DC-1,1",
        {"_header": "SKU,ProductID,WarehouseCode,Quantity"},
        {(2, "ProductID", "INVALID")},
    ),
    "negative safety stock": (
        "V-1,DC-1,1,-2",
        {"_header": "SKU,WarehouseCode,Quantity,SafetyStock"},
        {(2, "SafetyStock", "INVALID")},
    ),
    "text for a reorder point": (
        "V-1,DC-1,1,,soon",
        {"_header": "SKU,WarehouseCode,Quantity,SafetyStock,ReorderPoint"},
        {(2, "ReorderPoint", "INVALID")},
    ),
    "a row with a field too many": ("V-1,DC-1,1,9", {}, {(2, None, "INVALID")}),
    "a SKU too long to create": (
        f"{'X' * 129},DC-1,1",
        {"createMissingProducts": True},
        {(2, "SKU", "INVALID")},
    ),
    "a name too long to create": (
        f"NEW-1,DC-1,1,{'n' * 301}",
        {"createMissingProducts": True, "_header": "SKU,WarehouseCode,Quantity,ProductName"},
        {(2, "ProductName", "INVALID")},
    ),
}
FILE_CASES = {
    "missing column": ("SKU,Quantity\nV-1,1\n", {(1, "WarehouseCode", "REQUIRED")}),
    "no product column": ("WarehouseCode,Quantity\nDC-1,1\n", {(1, "SKU", "REQUIRED")}),
    "unknown column": (
        "SKU,WarehouseCode,Quantity,Colour\nV-1,DC-1,1,red\n",
        {(1, "Colour", "INVALID")},
    ),
    "a column twice": (
        "SKU,WarehouseCode,Quantity,quantity\nV-1,DC-1,1,2\n",
        {(1, "Quantity", "INVALID")},
    ),
    "header only": ("SKU,WarehouseCode,Quantity\n", {(None, None, "REQUIRED")}),
    "empty": ("", {(1, None, "REQUIRED")}),
    "an unclosed quote": (
        'SKU,WarehouseCode,Quantity\nV-1,DC-1,1\n"V-2,DC-1,2\n',
        {(3, None, "INVALID")},
    ),
    "a NUL character": (
        "SKU,WarehouseCode,Quantity\nV-1,DC-1,1\nV-\x002,DC-1,2\n",
        {(3, None, "INVALID")},
    ),
    "an unpaired surrogate": (
        "SKU,WarehouseCode,Quantity\nV-1,DC-1,1\nV-1,DC-1,2\nV-\ud8002,DC-1,2\n",
        {(4, None, "INVALID")},
    ),
}


def product_id(number: int) -> str:
    return base64.b64encode(f"Product:{number}".encode()).decode()


@pytest.fixture
async def catalog(admin: Client) -> dict[str, str]:
    await factories.warehouse(admin, "DC-1")
    await import_csv(
        admin,
        "SKU,WarehouseCode,Quantity\nV-1,DC-1,10\nV-2,DC-1,10\n",
        **{"createMissingProducts": True},
    )
    found = await admin("{ products(first: 5) { nodes { id sku } } }")
    ids = {p["sku"]: p["id"] for p in found["products"]["nodes"]}
    return {"pid": ids["V-1"], "other": ids["V-2"], "missing": product_id(999_999)}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bad_row_is_named_by_line_and_column_and_nothing_is_applied(
    case: str, admin: Client, engine: AsyncEngine, catalog: dict[str, str]
) -> None:
    body, options, expected = CASES[case]
    options = dict(options)
    header = options.pop("_header", HEADER)
    for line, mode in options.pop("_setup", []):
        prepared = await import_csv(admin, f"{HEADER}\n{line}\n", mode=mode)
        assert prepared["errors"] == []
    before, levels = await counts(engine), await stock(engine)

    payload = await import_csv(admin, f"{header}\n{body.format(**catalog)}\n", **options)

    assert payload["job"]["status"] == "FAILED", payload
    assert problems(payload) == expected, payload["job"]["errors"]
    assert payload["errors"], "a refused import says why in its payload too"
    assert await counts(engine) == before
    assert await stock(engine) == levels


@pytest.mark.parametrize("case", list(FILE_CASES))
async def test_a_file_that_cannot_be_read_is_refused_whole(
    case: str, admin: Client, engine: AsyncEngine, catalog: dict[str, str]
) -> None:
    content, expected = FILE_CASES[case]
    before = await counts(engine)

    payload = await import_csv(admin, content)

    assert payload["job"]["status"] == "FAILED"
    assert problems(payload) == expected, payload["job"]["errors"]
    assert await counts(engine) == before


async def test_every_problem_of_a_file_is_reported_at_once(
    admin: Client, catalog: dict[str, str]
) -> None:
    payload = await import_csv(
        admin,
        "SKU,WarehouseCode,Quantity,SafetyStock\n"
        "V-1,DC-1,5,1\n"
        "V-404,DC-1,1,\n"
        "V-2,DC-9,x,-3\n"
        "V-1,DC-1,6,\n",
    )

    assert problems(payload) == {
        (3, "SKU", "NOT_FOUND"),
        (4, "WarehouseCode", "NOT_FOUND"),
        (4, "Quantity", "INVALID"),
        (4, "SafetyStock", "INVALID"),
        (5, "SKU", "INVALID"),
    }
    job = payload["job"]
    assert (job["rowsTotal"], job["failed"]) == (4, 3)
    duplicate = next(e for e in job["errors"]["nodes"] if e["line"] == 5)
    assert "also on line 2" in duplicate["message"]
    assert [e["field"] for e in payload["errors"]][:2] == ["file.3.SKU", "file.4.WarehouseCode"]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"SKU,WarehouseCode,Quantity\nV-1,DC-1,1\nV-\xe9,DC-1,2\n", 3),
        (b"\xff\xfeS\x00K\x00U\x00", None),
    ],
    ids=["latin-1", "utf-16"],
)
async def test_a_file_not_in_utf8_is_refused_saying_where(
    content: bytes,
    line: int | None,
    admin: Client,
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    catalog: dict[str, str],
) -> None:
    before = await counts(engine)
    response = await upload(http, admin.token or "", content)
    payload = response.json()["data"]["importInventory"]
    assert payload["job"]["status"] == "FAILED"
    [error] = payload["job"]["errors"]["nodes"]
    assert (error["line"], error["code"]) == (line, "INVALID")
    assert "UTF-8" in error["message"]
    assert await counts(engine) == before
