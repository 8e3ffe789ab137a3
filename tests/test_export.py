"""exportInventory and the download endpoint: stock as CSV in the columns an import reads back,
so that exporting and importing the file again changes nothing."""

from __future__ import annotations

import csv
import io

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import reserve
from support.client import Client, operation
from support.imports import counts, import_csv, upload

EXPORT = operation("ExportInventory")
HEADER = (
    "ProductID,ProductName,SKU,WarehouseCode,Quantity,Reserved,Available,SafetyStock,"
    "ReorderPoint,ReorderQuantity"
)
SET_LEVEL = """
mutation($input: SetInventoryLevelInput!) {
  setInventoryLevel(input: $input) { errors { code message } }
}"""


async def stocked(admin: Client) -> dict[str, str]:
    """Three levels of two products; one partly reserved, one partly damaged."""
    for code in ("DC-1", "DC-2"):
        await factories.warehouse(admin, code)
    payload = await import_csv(
        admin,
        "SKU,ProductName,WarehouseCode,Quantity,SafetyStock,ReorderPoint,ReorderQuantity\n"
        'E-2,"Hose 1/2"", 10 m",DC-1,0,0,5,20\n'
        "E-1,Bolt M8,DC-2,30,4,8,50\n"
        "E-1,Bolt M8,DC-1,12,2,5,24\n",
        createMissingProducts=True,
    )
    assert payload["errors"] == []
    held = await reserve(admin, sku="E-1", warehouseCode="DC-1", quantity=3)
    assert held["errors"] == [], held
    damaged = await admin(
        SET_LEVEL, {"input": {"sku": "E-1", "warehouseCode": "DC-2", "damaged": 6}}
    )
    assert damaged["setInventoryLevel"]["errors"] == []
    found = await admin("{ products(first: 5) { nodes { id sku } } }")
    return {p["sku"]: p["id"] for p in found["products"]["nodes"]}


async def test_the_export_has_the_seeds_columns_ordered_by_sku_and_warehouse(
    admin: Client,
) -> None:
    ids = await stocked(admin)

    export = (await admin(EXPORT))["exportInventory"]

    assert export["rowCount"] == 3
    assert export["columns"] == HEADER.split(",")
    assert export["csv"] == (
        f"{HEADER}\n"
        f"{ids['E-1']},Bolt M8,E-1,DC-1,12,3,7,2,5,24\n"
        f"{ids['E-1']},Bolt M8,E-1,DC-2,30,0,20,4,8,50\n"
        f'{ids["E-2"]},"Hose 1/2"", 10 m",E-2,DC-1,0,0,0,0,5,20\n'
    )
    assert export["fileName"].startswith("inventory-")
    assert export["fileName"].endswith(".csv")


async def test_the_export_is_filtered(admin: Client) -> None:
    await stocked(admin)

    async def skus_and_codes(**filter: object) -> list[tuple[str, str]]:
        found = (await admin(EXPORT, {"filter": filter}))["exportInventory"]
        rows = list(csv.DictReader(io.StringIO(found["csv"])))
        assert found["rowCount"] == len(rows)
        return [(row["SKU"], row["WarehouseCode"]) for row in rows]

    assert await skus_and_codes(warehouseCodes=["DC-2"]) == [("E-1", "DC-2")]
    assert await skus_and_codes(skus=["E-2"]) == [("E-2", "DC-1")]
    assert await skus_and_codes(search="hose") == [("E-2", "DC-1")]
    assert await skus_and_codes(includeZero=False) == [("E-1", "DC-1"), ("E-1", "DC-2")]
    assert await skus_and_codes(belowSafetyStock=True) == [("E-2", "DC-1")]
    # A filter naming nothing is a mistake, not an empty export.
    for filter, field in (
        ({"warehouseCodes": ["NOWHERE"]}, "warehouseCodes"),
        ({"skus": ["E-1", "NONE"]}, "skus"),
    ):
        [error] = (await admin.raw(EXPORT, {"filter": filter}))["errors"]
        assert error["extensions"] == {"code": "NOT_FOUND", "field": f"filter.{field}"}, error


async def test_a_large_export_is_downloaded_as_a_stream(
    admin: Client, storefront: Client, http: httpx.AsyncClient
) -> None:
    await factories.warehouse(admin, "DC-1")
    lines = "".join(f"L-{i:05d},DC-1,{i}\n" for i in range(3000))
    await import_csv(admin, "SKU,WarehouseCode,Quantity\n" + lines, createMissingProducts=True)

    export = (await admin(EXPORT, {"maxRows": 1000, "filter": {"warehouseCodes": ["DC-1"]}}))[
        "exportInventory"
    ]
    assert (export["rowCount"], export["csv"]) == (3000, None)
    assert export["downloadUrl"].endswith("/exports/inventory.csv?warehouseCode=DC-1")

    async with http.stream("GET", export["downloadUrl"], headers=storefront.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["content-disposition"]
        chunks = [chunk async for chunk in response.aiter_bytes()]
    assert len(chunks) > 1, "streamed, not sent in one piece"
    body = b"".join(chunks).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 3000
    assert rows[0]["SKU"] == "L-00000"
    assert rows[-1]["Quantity"] == "2999"
    whole = (await admin(EXPORT, {"maxRows": 3000}))["exportInventory"]["csv"]
    assert body == whole


async def test_the_download_needs_a_token_that_may_read_stock(http: httpx.AsyncClient) -> None:
    refused = await http.get("/exports/inventory.csv")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    wrong = await http.get(
        "/exports/inventory.csv", headers={"Authorization": "Bearer onhand_not-a-token"}
    )
    assert wrong.status_code == 401


async def test_a_bad_download_filter_is_a_client_error(
    admin: Client, http: httpx.AsyncClient
) -> None:
    response = await http.get("/exports/inventory.csv?includeZero=perhaps", headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    response = await http.get("/exports/inventory.csv?warehouseCode=NOPE", headers=admin.headers)
    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error == {
        "message": "no warehouse has warehouseCode NOPE",
        "extensions": {"code": "NOT_FOUND"},
    }


async def test_max_rows_is_bounded(admin: Client) -> None:
    body = await admin.raw(EXPORT, {"maxRows": 1_000_000})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_exporting_and_importing_the_same_file_changes_nothing(
    admin: Client, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await stocked(admin)
    before = await counts(engine)

    download = await http.get("/exports/inventory.csv", headers=admin.headers)
    assert download.status_code == 200
    response = await upload(http, admin.token or "", download.content, "round-trip.csv")

    payload = response.json()["data"]["importInventory"]
    assert payload["errors"] == []
    job = payload["job"]
    assert (job["rowsTotal"], job["unchanged"], job["created"], job["updated"]) == (3, 3, 0, 0)
    assert await counts(engine) == before


async def test_text_a_spreadsheet_would_run_is_escaped_and_imports_back_unchanged(
    admin: Client, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await factories.warehouse(admin, "DC-1")
    formula = '=HYPERLINK("http://evil.example","x")'
    payload = await import_csv(
        admin,
        f'SKU,ProductName,WarehouseCode,Quantity\n"{formula.replace(chr(34), chr(34) * 2)}",'
        "+cmd,DC-1,4\n-5,@sum,DC-1,2\nPLAIN,Plain,DC-1,1\n",
        createMissingProducts=True,
    )
    assert payload["errors"] == [], payload
    before = await counts(engine)

    download = await http.get("/exports/inventory.csv", headers=admin.headers)
    rows = {row["SKU"]: row for row in csv.DictReader(io.StringIO(download.text))}
    assert set(rows) == {"'" + formula, "'-5", "PLAIN"}
    assert rows["'" + formula]["ProductName"] == "'+cmd"
    assert rows["'-5"]["ProductName"] == "'@sum"
    assert rows["PLAIN"]["ProductName"] == "Plain"

    response = await upload(http, admin.token or "", download.content, "round-trip.csv")
    job = response.json()["data"]["importInventory"]["job"]
    assert (job["rowsTotal"], job["unchanged"], job["created"]) == (3, 3, 0), job
    assert await counts(engine) == before
    found = await admin("{ products(first: 5) { nodes { sku name } } }")
    assert {(p["sku"], p["name"]) for p in found["products"]["nodes"]} == {
        (formula, "+cmd"),
        ("-5", "@sum"),
        ("PLAIN", "Plain"),
    }
