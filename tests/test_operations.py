"""The README's example documents of stock and catalog (graphql/operations/) each run, and the
guide's example calls work as written there. The documents of channels and reservations are run
by those domains' tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from support import factories
from support.client import OPERATIONS, Client, operation

# The guide's Step 1 document and variables, as printed there.
SEED_CREATE_WAREHOUSE = """mutation CreateWarehouse($input: CreateWarehouseInput!) {
createWarehouse(input: $input) {
warehouse {
id
name
code
address {
street
city
state
postalCode
country
}
timezone
isActive
priority
capabilities
}
errors {
field
message
}
}
}"""
SEED_WAREHOUSE_VARIABLES = {
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


def js_now() -> str:
    """`new Date().toISOString()`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Ids = dict[str, Any]


async def world(admin: Client) -> Ids:
    """The guide's warehouse, a second one, a product stocked at the first, and a spare
    product stocked nowhere."""
    created = await admin.mutate("createWarehouse", SEED_CREATE_WAREHOUSE, SEED_WAREHOUSE_VARIABLES)
    ids: Ids = {"DC-001": created["warehouse"]["id"]}
    ids["DC-002"] = (await factories.warehouse(admin, "DC-002"))["id"]
    ids["product"] = (await factories.product(admin, "TSHIRT-M"))["id"]
    ids["spare"] = (await factories.product(admin, "MUG-1"))["id"]
    await factories.level(admin, ids["product"], ids["DC-001"], 150, safetyStock=10)
    return ids


# Variables for each stock and catalog document in graphql/operations/, given the world's ids.
VARIABLES: dict[str, Callable[[Ids], dict[str, Any]]] = {
    "CreateWarehouse": lambda ids: {
        "input": {**SEED_WAREHOUSE_VARIABLES["input"], "code": "DC-003", "priority": 2}
    },
    "CreateProduct": lambda ids: {"input": {"sku": "NEW-1", "name": "New product"}},
    "CreateInventoryLevel": lambda ids: {
        "input": {
            "productId": ids["spare"],
            "warehouseId": ids["DC-001"],
            "quantity": 40,
            "reservedQuantity": 0,
            "safetyStock": 10,
            "reorderPoint": 20,
            "reorderQuantity": 100,
        }
    },
    "SetInventoryLevel": lambda ids: {
        "input": {"productId": ids["product"], "warehouseId": ids["DC-001"], "quantity": 120}
    },
    "AdjustInventory": lambda ids: {
        "input": {
            "productId": ids["product"],
            "warehouseId": ids["DC-001"],
            "adjustment": -3,
            "reason": "SALE",
            "timestamp": js_now(),
        }
    },
    "TransferInventory": lambda ids: {
        "input": {
            "productId": ids["product"],
            "fromWarehouseId": ids["DC-001"],
            "toWarehouseId": ids["DC-002"],
            "quantity": 5,
            "reason": "WAREHOUSE_TRANSFER",
        }
    },
    "GetInventoryLevel": lambda ids: {"productId": ids["product"], "warehouseId": ids["DC-001"]},
    "InventoryMovements": lambda ids: {"filter": {"productId": ids["product"]}, "first": 10},
    "ProductInventory": lambda ids: {"sku": "TSHIRT-M"},
    "ProductWarehouses": lambda ids: {"productId": ids["product"], "minAvailable": 5},
    "CreateInventoryAuditLog": lambda ids: {
        "input": {
            "productId": ids["product"],
            "warehouseId": ids["DC-001"],
            "reason": "shelf label replaced",
            "referenceId": "TICKET-7",
        }
    },
}
DOCUMENTS = sorted(VARIABLES)


def test_every_document_named_here_is_in_the_operations_directory() -> None:
    present = {path.stem for path in OPERATIONS.glob("*.graphql")}
    assert set(DOCUMENTS) <= present


@pytest.mark.parametrize("name", DOCUMENTS)
async def test_each_readme_document_runs(admin: Client, name: str) -> None:
    ids = await world(admin)
    document = operation(name)
    body = await admin.raw(document, VARIABLES[name](ids))
    assert not body.get("errors"), body
    data = body["data"]
    [result] = data.values()
    assert result is not None, f"{name} returned nothing"
    if document.lstrip().startswith("mutation"):
        assert result["errors"] == [], result
        # And it answers with what it changed.
        assert any(value for key, value in result.items() if key != "errors"), result
    elif "edges" in result:
        assert result["edges"], f"{name} listed nothing"


def test_the_readmes_create_warehouse_is_the_guides_document() -> None:
    def words(document: str) -> list[str]:
        return document.replace("{", " { ").replace("}", " } ").split()

    assert words(operation("CreateWarehouse")) == words(SEED_CREATE_WAREHOUSE)


# -- the guide's calls, as it makes them -------------------------------------------------------


async def test_step_1_configure_warehouses(admin: Client) -> None:
    body = await admin.raw(SEED_CREATE_WAREHOUSE, SEED_WAREHOUSE_VARIABLES)
    assert "errors" not in body
    payload = body["data"]["createWarehouse"]
    assert payload["errors"] == []
    warehouse = payload["warehouse"]
    expected = SEED_WAREHOUSE_VARIABLES["input"]
    assert {k: warehouse[k] for k in ("name", "code", "address", "timezone", "isActive")} == {
        k: expected[k] for k in ("name", "code", "address", "timezone", "isActive")
    }
    assert warehouse["priority"] == 1
    assert set(warehouse["capabilities"]) == {"SHIPPING", "RECEIVING", "STORAGE"}


async def test_step_2_initialize_product_inventory(admin: Client) -> None:
    """initializeProductInventory: one createInventoryLevel per warehouse, all at once, with
    its defaults; then it reads `errors` and `inventoryLevel` of each result."""
    warehouses = [
        {"warehouseId": (await factories.warehouse(admin, code))["id"], "quantity": quantity}
        for code, quantity in (("DC-1", 150), ("DC-2", 0), ("DC-3", 35))
    ]
    product = await factories.product(admin, "SKU-STEP-2")
    document = operation("CreateInventoryLevel")

    def input_for(warehouse: dict[str, Any]) -> dict[str, Any]:
        return {
            "productId": product["id"],
            "warehouseId": warehouse["warehouseId"],
            "quantity": warehouse["quantity"],
            "reservedQuantity": warehouse.get("reservedQuantity") or 0,
            "safetyStock": warehouse.get("safetyStock") or 10,
            "reorderPoint": warehouse.get("reorderPoint") or 20,
            "reorderQuantity": warehouse.get("reorderQuantity") or 100,
        }

    results = await asyncio.gather(*(admin(document, {"input": input_for(w)}) for w in warehouses))
    errors = [e for r in results for e in r["createInventoryLevel"]["errors"]]
    assert errors == []
    levels = [r["createInventoryLevel"]["inventoryLevel"] for r in results]
    assert [(x["quantity"], x["reserved"], x["available"]) for x in levels] == [
        (150, 0, 140),
        (0, 0, -10),
        (35, 0, 25),
    ]
    assert {(x["safetyStock"], x["reorderPoint"], x["reorderQuantity"]) for x in levels} == {
        (10, 20, 100)
    }


async def test_tracker_get_update_and_transfer(admin: Client) -> None:
    """InventoryTracker: getInventoryLevel({productId, warehouseId}), adjustInventory with
    productId, warehouseId, adjustment, reason and timestamp, and transferInventory with
    reason WAREHOUSE_TRANSFER; each checks `errors` and reads the fields it uses."""
    ids = await world(admin)
    got = (
        await admin(
            operation("GetInventoryLevel"),
            {"productId": ids["product"], "warehouseId": ids["DC-001"]},
        )
    )["inventoryLevel"]
    assert got is not None
    assert (got["quantity"], got["reserved"], got["available"]) == (150, 0, 140)
    assert (got["safetyStock"], got["reorderPoint"], got["reorderQuantity"]) == (10, 0, 0)

    adjustment = -12
    adjusted = (
        await admin(
            operation("AdjustInventory"),
            {
                "input": {
                    "productId": ids["product"],
                    "warehouseId": ids["DC-001"],
                    "adjustment": adjustment,
                    "reason": "SALE",
                    "timestamp": js_now(),
                }
            },
        )
    )["adjustInventory"]
    assert adjusted["errors"] == []
    updated = adjusted["inventoryLevel"]
    # oldQuantity: updated.quantity - adjustment, newQuantity: updated.quantity.
    assert updated["quantity"] - adjustment == got["quantity"]
    assert adjusted["movement"]["previousQuantity"] == got["quantity"]

    moved = (
        await admin(
            operation("TransferInventory"),
            {
                "input": {
                    "productId": ids["product"],
                    "fromWarehouseId": ids["DC-001"],
                    "toWarehouseId": ids["DC-002"],
                    "quantity": 8,
                    "reason": "WAREHOUSE_TRANSFER",
                }
            },
        )
    )["transferInventory"]
    assert moved["errors"] == []
    assert moved["fromInventoryLevel"]["quantity"] == updated["quantity"] - 8
    assert moved["toInventoryLevel"] == {
        "quantity": 8,
        "available": 8,
        "warehouse": {"code": "DC-002"},
    }
    assert [(m["type"], m["quantity"], m["reason"]) for m in moved["movements"]] == [
        ("TRANSFER_OUT", -8, "WAREHOUSE_TRANSFER"),
        ("TRANSFER_IN", 8, "WAREHOUSE_TRANSFER"),
    ]


async def test_transfer_orders_ship_and_receive_with_adjustments(admin: Client) -> None:
    """The guide's transfer orders: shipping adjusts the source by -quantity with reason
    TRANSFER_OUT, receiving adjusts the destination with TRANSFER_IN, both with referenceId."""
    ids = await world(admin)
    document = operation("AdjustInventory")
    await factories.level(admin, ids["product"], ids["DC-002"], 0)
    for warehouse, adjustment, reason in (
        ("DC-001", -20, "TRANSFER_OUT"),
        ("DC-002", 20, "TRANSFER_IN"),
    ):
        payload = (
            await admin(
                document,
                {
                    "input": {
                        "productId": ids["product"],
                        "warehouseId": ids[warehouse],
                        "adjustment": adjustment,
                        "reason": reason,
                        "referenceId": "TO-2024-001",
                    }
                },
            )
        )["adjustInventory"]
        assert payload["errors"] == []
        assert (payload["movement"]["type"], payload["movement"]["reason"]) == (reason, reason)
    summary = (await admin(operation("ProductInventory"), {"sku": "TSHIRT-M"}))["inventorySummary"]
    assert summary["quantity"] == 150
    assert [(x["warehouse"]["code"], x["quantity"]) for x in summary["levels"]] == [
        ("DC-001", 130),
        ("DC-002", 20),
    ]
