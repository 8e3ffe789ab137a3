"""Building test data through the API, as a client would."""

from __future__ import annotations

from typing import Any

from support.client import Client

CREATE_WAREHOUSE = """
mutation($input: CreateWarehouseInput!) {
  createWarehouse(input: $input) { warehouse { id code } errors { field message code } }
}"""
CREATE_PRODUCT = """
mutation($input: CreateProductInput!) {
  createProduct(input: $input) { product { id sku } errors { field message code } }
}"""
CREATE_LEVEL = """
mutation($input: CreateInventoryLevelInput!) {
  createInventoryLevel(input: $input) {
    inventoryLevel { id quantity available version }
    errors { field message code }
  }
}"""

ADJUST = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) {
    inventoryLevel { quantity available version }
    movement { id quantity }
    errors { field message code available requested currentVersion }
  }
}"""


async def warehouse(admin: Client, code: str, **values: Any) -> dict[str, Any]:
    data = await admin.mutate(
        "createWarehouse", CREATE_WAREHOUSE, {"input": {"code": code, "name": code, **values}}
    )
    return dict(data["warehouse"])


async def product(admin: Client, sku: str, **values: Any) -> dict[str, Any]:
    data = await admin.mutate(
        "createProduct", CREATE_PRODUCT, {"input": {"sku": sku, "name": f"Product {sku}", **values}}
    )
    return dict(data["product"])


async def level(
    admin: Client, product_id: str, warehouse_id: str, quantity: int, **values: Any
) -> dict[str, Any]:
    data = await admin.mutate(
        "createInventoryLevel",
        CREATE_LEVEL,
        {
            "input": {
                "productId": product_id,
                "warehouseId": warehouse_id,
                "quantity": quantity,
                **values,
            }
        },
    )
    return dict(data["inventoryLevel"])


async def stocked(
    admin: Client, sku: str, quantities: dict[str, int], **values: Any
) -> dict[str, Any]:
    """A product stocked at the given warehouses (created as needed): ids by code."""
    made = await product(admin, sku)
    ids: dict[str, Any] = {"product": made["id"]}
    for code, quantity in quantities.items():
        found = await admin("query($c: String!) { warehouse(code: $c) { id } }", {"c": code})
        wid = (
            found["warehouse"]["id"] if found["warehouse"] else (await warehouse(admin, code))["id"]
        )
        ids[code] = wid
        await level(admin, made["id"], wid, quantity, **values)
    return ids


async def adjust(client: Client, sku: str, code: str, delta: int) -> None:
    """An adjustment of `delta` units: a RECEIPT when it adds, an ADJUSTMENT when it removes."""
    reason = "RECEIPT" if delta > 0 else "ADJUSTMENT"
    await client.mutate(
        "adjustInventory",
        ADJUST,
        {"input": {"sku": sku, "warehouseCode": code, "adjustment": delta, "reason": reason}},
    )
