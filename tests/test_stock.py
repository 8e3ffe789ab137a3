"""Moving stock: adjustInventory (a delta) and transferInventory (both legs at once), called
the way the guide's InventoryTracker and transfer-order code call them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import channels, factories
from support.client import Client, operation

LEVEL = "id quantity available version warehouse { code }"
MOVEMENT = """
  id type quantity previousQuantity newQuantity reason referenceId occurredAt changeId
  warehouse { code }
"""
ERRORS = "errors { field message code available requested currentVersion }"
ADJUST = f"""
mutation($input: AdjustInventoryInput!) {{
  adjustInventory(input: $input) {{
    inventoryLevel {{ {LEVEL} }} movement {{ {MOVEMENT} }} {ERRORS}
  }}
}}"""
TRANSFER = f"""
mutation($input: TransferInventoryInput!) {{
  transferInventory(input: $input) {{
    fromInventoryLevel {{ {LEVEL} }}
    toInventoryLevel {{ {LEVEL} }}
    movements {{ {MOVEMENT} }}
    {ERRORS}
  }}
}}"""


def iso_now() -> str:
    """A timestamp as JavaScript's `new Date().toISOString()` writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def db(engine: AsyncEngine, sql: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(text(sql))).mappings()]


async def state(engine: AsyncEngine) -> tuple[list[dict[str, Any]], int]:
    """Every level, and how many ledger rows there are."""
    levels = await db(engine, "SELECT * FROM inventory_levels ORDER BY id")
    [count] = await db(engine, "SELECT count(*) AS n FROM inventory_movements")
    return levels, int(count["n"])


def problems(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def adjust(client: Client, **values: Any) -> dict[str, Any]:
    return dict((await client(ADJUST, {"input": values}))["adjustInventory"])


async def transfer(client: Client, **values: Any) -> dict[str, Any]:
    return dict((await client(TRANSFER, {"input": values}))["transferInventory"])


@pytest.fixture
async def stock(admin: Client) -> dict[str, str]:
    """SKU-1: 100 at DC-1 (safety stock 10), 20 at DC-2; DC-3 exists without a level."""
    ids = await factories.stocked(admin, "SKU-1", {"DC-1": 100}, safetyStock=10)
    ids["DC-2"] = (await factories.warehouse(admin, "DC-2"))["id"]
    await factories.level(admin, ids["product"], ids["DC-2"], 20)
    ids["DC-3"] = (await factories.warehouse(admin, "DC-3"))["id"]
    return ids


# -- adjustInventory ---------------------------------------------------------------------------


async def test_adjust_as_the_guides_tracker_calls_it(
    operator: Client, stock: dict[str, str]
) -> None:
    timestamp = iso_now()
    payload = await adjust(
        operator,
        productId=stock["product"],
        warehouseId=stock["DC-1"],
        adjustment=-7,
        reason="Sold at the counter",
        timestamp=timestamp,
    )
    assert payload["errors"] == []
    level = payload["inventoryLevel"]
    # The tracker computes oldQuantity as quantity - adjustment: that must hold.
    assert level["quantity"] - (-7) == 100
    assert level["available"] == 83
    movement = payload["movement"]
    assert (movement["type"], movement["quantity"]) == ("ADJUSTMENT", -7)
    assert (movement["previousQuantity"], movement["newQuantity"]) == (100, 93)
    assert movement["reason"] == "Sold at the counter"
    # The business timestamp given is the one recorded.
    recorded = datetime.fromisoformat(movement["occurredAt"])
    assert recorded == datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("reason", "kind", "adjustment"),
    [
        ("RECEIPT", "RECEIPT", 1),
        ("SALE", "SALE", -1),
        ("RETURN", "RETURN", 1),
        ("DAMAGE", "DAMAGE", -1),
        ("TRANSFER_OUT", "TRANSFER_OUT", -1),
        ("TRANSFER_IN", "TRANSFER_IN", 1),
        ("CYCLE_COUNT", "CYCLE_COUNT", -1),
        ("CYCLE_COUNT", "CYCLE_COUNT", 1),
        ("ADJUSTMENT", "ADJUSTMENT", -1),
        ("ADJUSTMENT", "ADJUSTMENT", 1),
        ("shrinkage found in aisle 4", "ADJUSTMENT", -1),
        ("sale", "ADJUSTMENT", 1),  # only the exact type name sets the type
    ],
)
async def test_a_reason_naming_a_movement_type_sets_the_type(
    admin: Client, stock: dict[str, str], reason: str, kind: str, adjustment: int
) -> None:
    payload = await adjust(
        admin,
        productId=stock["product"],
        warehouseId=stock["DC-1"],
        adjustment=adjustment,
        reason=reason,
    )
    assert payload["errors"] == []
    assert (payload["movement"]["type"], payload["movement"]["reason"]) == (kind, reason)


async def test_a_sale_names_its_channel_and_counts_as_that_channels_sales(
    admin: Client, stock: dict[str, str]
) -> None:
    await channels.channel(admin, "COUNTER", ["DC-1"])
    sold = await adjust(
        admin,
        sku="SKU-1",
        warehouseCode="DC-1",
        adjustment=-3,
        reason="SALE",
        channelCode="COUNTER",
    )
    assert sold["errors"] == []
    sales = await admin(operation("ProductSalesByChannel"), {"productId": stock["product"]})
    assert [(s["channel"]["code"], s["quantity"]) for s in sales["productSalesByChannel"]] == [
        ("COUNTER", 3)
    ]
    # Only sales and returns are made on a channel; the channel must exist.
    for values, field, code in (
        (
            {"reason": "RECEIPT", "adjustment": 1, "channelCode": "COUNTER"},
            "channelCode",
            "INVALID",
        ),
        ({"reason": "SALE", "adjustment": -1, "channelCode": "NOPE"}, "channelCode", "NOT_FOUND"),
    ):
        refused = await adjust(admin, sku="SKU-1", warehouseCode="DC-1", **values)
        assert problems(refused) == [(field, code)], values


async def test_an_explicit_type_wins_over_the_reason(admin: Client, stock: dict[str, str]) -> None:
    payload = await adjust(
        admin, sku="SKU-1", warehouseCode="DC-1", adjustment=3, reason="SALE", type="RETURN"
    )
    assert payload["movement"]["type"] == "RETURN"


async def test_transfer_out_and_in_as_the_guides_transfer_orders_send_them(
    admin: Client, stock: dict[str, str]
) -> None:
    out = await adjust(
        admin,
        productId=stock["product"],
        warehouseId=stock["DC-1"],
        adjustment=-15,
        reason="TRANSFER_OUT",
        referenceId="TO-1001",
    )
    received = await adjust(
        admin,
        productId=stock["product"],
        warehouseId=stock["DC-2"],
        adjustment=15,
        reason="TRANSFER_IN",
        referenceId="TO-1001",
    )
    assert (out["errors"], received["errors"]) == ([], [])
    assert (out["movement"]["type"], out["movement"]["referenceId"]) == ("TRANSFER_OUT", "TO-1001")
    assert (received["movement"]["type"], received["inventoryLevel"]["quantity"]) == (
        "TRANSFER_IN",
        35,
    )


async def test_not_enough_available_stock_is_refused(
    admin: Client, engine: AsyncEngine, stock: dict[str, str]
) -> None:
    before = await state(engine)
    # 100 on hand, 10 of it safety stock: 90 may go.
    payload = await adjust(
        admin, productId=stock["product"], warehouseId=stock["DC-1"], adjustment=-95, reason="SALE"
    )
    assert payload["inventoryLevel"] is None
    assert problems(payload) == [("adjustment", "INSUFFICIENT_STOCK")]
    error = payload["errors"][0]
    assert (error["available"], error["requested"]) == (90, 95)
    assert await state(engine) == before
    # Exactly what is available may go.
    ok = await adjust(
        admin, productId=stock["product"], warehouseId=stock["DC-1"], adjustment=-90, reason="SALE"
    )
    assert (ok["inventoryLevel"]["quantity"], ok["inventoryLevel"]["available"]) == (10, 0)


async def test_a_backorders_warehouse_may_go_negative(admin: Client) -> None:
    warehouse = await factories.warehouse(admin, "DROP-1", allowBackorders=True)
    product = await factories.product(admin, "PRE-ORDER")
    await factories.level(admin, product["id"], warehouse["id"], 3)
    payload = await adjust(
        admin, productId=product["id"], warehouseId=warehouse["id"], adjustment=-8, reason="SALE"
    )
    assert payload["errors"] == []
    assert (payload["inventoryLevel"]["quantity"], payload["inventoryLevel"]["available"]) == (
        -5,
        -5,
    )
    # Stock arriving fills the backorders first.
    back = await adjust(admin, sku="PRE-ORDER", warehouseCode="DROP-1", adjustment=6, reason="x")
    assert back["inventoryLevel"]["quantity"] == 1


async def test_a_replayed_idempotency_key_returns_the_first_result(
    admin: Client, engine: AsyncEngine, stock: dict[str, str]
) -> None:
    request = {
        "productId": stock["product"],
        "warehouseId": stock["DC-1"],
        "adjustment": -4,
        "reason": "SALE",
        "referenceId": "ORDER-77",
        "idempotencyKey": "order-77-line-1",
    }
    first = await adjust(admin, **request)
    _, movements_after_first = await state(engine)
    replay = await adjust(admin, **request)
    assert replay == first
    assert first["inventoryLevel"]["quantity"] == 96
    levels, movements = await state(engine)
    assert movements == movements_after_first
    assert levels[0]["on_hand"] == 96
    [row] = await db(
        engine, "SELECT count(*) AS n FROM inventory_movements WHERE reference_id = 'ORDER-77'"
    )
    assert row["n"] == 1


async def test_an_idempotency_key_reused_for_another_request_is_refused(
    admin: Client, engine: AsyncEngine, stock: dict[str, str]
) -> None:
    request = {
        "productId": stock["product"],
        "warehouseId": stock["DC-1"],
        "adjustment": -4,
        "reason": "SALE",
        "idempotencyKey": "k-1",
    }
    await adjust(admin, **request)
    before = await state(engine)
    payload = await adjust(admin, **{**request, "adjustment": -5})
    assert payload["inventoryLevel"] is None
    assert problems(payload) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    assert await state(engine) == before
    # A different mutation with the same key is another request too.
    moved = await transfer(
        admin,
        productId=stock["product"],
        fromWarehouseId=stock["DC-1"],
        toWarehouseId=stock["DC-2"],
        quantity=1,
        idempotencyKey="k-1",
    )
    assert problems(moved) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    assert await state(engine) == before


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            {"timestamp": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
            ("timestamp", "INVALID"),
            id="future-timestamp",
        ),
        pytest.param(
            {"timestamp": "2024-05-01T12:00:00"}, ("timestamp", "INVALID"), id="no-timezone"
        ),
        pytest.param({"adjustment": 0}, ("adjustment", "INVALID"), id="zero"),
        pytest.param({"reason": "   "}, ("reason", "REQUIRED"), id="blank-reason"),
        pytest.param({"reason": "r" * 501}, ("reason", "INVALID"), id="long-reason"),
        pytest.param({"referenceId": "x" * 201}, ("referenceId", "INVALID"), id="long-reference"),
        pytest.param(
            {"warehouseId": None, "warehouseCode": "DC-3"},
            ("productId", "NOT_FOUND"),
            id="no-level-there",
        ),
        # Each type goes its own way, and adjustInventory makes only the types it lists.
        pytest.param({"adjustment": -5}, ("adjustment", "INVALID"), id="negative-receipt"),
        pytest.param({"reason": "SALE"}, ("adjustment", "INVALID"), id="positive-sale"),
        pytest.param(
            {"reason": "x", "type": "DAMAGE"}, ("adjustment", "INVALID"), id="positive-damage"
        ),
        pytest.param({"reason": "RESERVED"}, ("reason", "INVALID"), id="reason-reserved"),
        pytest.param({"type": "EXPIRED"}, ("type", "INVALID"), id="type-expired"),
    ],
)
async def test_bad_adjustments_change_nothing(
    admin: Client,
    engine: AsyncEngine,
    stock: dict[str, str],
    values: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    before = await state(engine)
    request = {
        "productId": stock["product"],
        "warehouseId": stock["DC-1"],
        "adjustment": 5,
        "reason": "RECEIPT",
    }
    payload = await adjust(admin, **{**request, **values})
    assert payload["inventoryLevel"] is None
    assert problems(payload) == [expected]
    assert await state(engine) == before


async def test_a_past_timestamp_is_kept_as_the_business_time(
    admin: Client, stock: dict[str, str]
) -> None:
    payload = await adjust(
        admin,
        sku="SKU-1",
        warehouseCode="DC-1",
        adjustment=2,
        reason="RETURN",
        timestamp="2024-05-01T09:30:00-05:00",
    )
    occurred = datetime.fromisoformat(payload["movement"]["occurredAt"])
    assert occurred == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)


# -- transferInventory -------------------------------------------------------------------------


async def test_transfer_as_the_guides_tracker_calls_it(
    admin: Client, engine: AsyncEngine, stock: dict[str, str]
) -> None:
    payload = await transfer(
        admin,
        productId=stock["product"],
        fromWarehouseId=stock["DC-1"],
        toWarehouseId=stock["DC-2"],
        quantity=30,
        reason="WAREHOUSE_TRANSFER",
    )
    assert payload["errors"] == []
    source, target = payload["fromInventoryLevel"], payload["toInventoryLevel"]
    assert (source["warehouse"]["code"], source["quantity"], source["available"]) == (
        "DC-1",
        70,
        60,
    )
    assert (target["warehouse"]["code"], target["quantity"]) == ("DC-2", 50)
    out_leg, in_leg = payload["movements"]
    assert (out_leg["type"], out_leg["quantity"], out_leg["warehouse"]["code"]) == (
        "TRANSFER_OUT",
        -30,
        "DC-1",
    )
    assert (in_leg["type"], in_leg["quantity"], in_leg["warehouse"]["code"]) == (
        "TRANSFER_IN",
        30,
        "DC-2",
    )
    assert out_leg["reason"] == in_leg["reason"] == "WAREHOUSE_TRANSFER"
    assert (out_leg["previousQuantity"], in_leg["previousQuantity"]) == (100, 20)
    # Both legs are one change: one change id, in the ledger as in the payload.
    assert out_leg["changeId"] == in_leg["changeId"]
    rows = await db(
        engine,
        "SELECT change_id, type, d_on_hand FROM inventory_movements"
        " WHERE type LIKE 'TRANSFER%' ORDER BY id",
    )
    assert [(r["type"], r["d_on_hand"]) for r in rows] == [
        ("TRANSFER_OUT", -30),
        ("TRANSFER_IN", 30),
    ]
    assert {r["change_id"] for r in rows} == {out_leg["changeId"]}


async def test_transfer_by_sku_and_codes_with_the_default_reason(
    admin: Client, stock: dict[str, str]
) -> None:
    payload = await transfer(
        admin,
        sku="SKU-1",
        fromWarehouseCode="DC-2",
        toWarehouseCode="DC-1",
        quantity=20,
        referenceId="TO-9",
    )
    assert payload["errors"] == []
    assert (payload["fromInventoryLevel"]["quantity"], payload["toInventoryLevel"]["quantity"]) == (
        0,
        120,
    )
    assert {m["reason"] for m in payload["movements"]} == {"WAREHOUSE_TRANSFER"}
    assert {m["referenceId"] for m in payload["movements"]} == {"TO-9"}


async def test_transfer_creates_the_destination_level(
    admin: Client, engine: AsyncEngine, stock: dict[str, str]
) -> None:
    levels_before, _ = await state(engine)
    payload = await transfer(
        admin,
        productId=stock["product"],
        fromWarehouseId=stock["DC-1"],
        toWarehouseId=stock["DC-3"],
        quantity=25,
    )
    assert payload["errors"] == []
    assert payload["toInventoryLevel"]["quantity"] == 25
    assert payload["movements"][1]["previousQuantity"] == 0
    levels_after, _ = await state(engine)
    assert len(levels_after) == len(levels_before) + 1
    found = await admin(
        "query($p: ID!, $w: ID!) { inventoryLevel(productId: $p, warehouseId: $w) { quantity } }",
        {"p": stock["product"], "w": stock["DC-3"]},
    )
    assert found["inventoryLevel"] == {"quantity": 25}


@pytest.mark.parametrize(
    "ends",
    [
        pytest.param({"fromWarehouseId": "DC-1", "toWarehouseId": "DC-1"}, id="same-ids"),
        pytest.param({"fromWarehouseCode": "DC-1", "toWarehouseCode": "DC-1"}, id="same-codes"),
        pytest.param({"fromWarehouseId": "DC-1", "toWarehouseCode": "DC-1"}, id="id-and-code"),
    ],
)
async def test_a_transfer_within_one_warehouse_is_refused(
    admin: Client, engine: AsyncEngine, stock: dict[str, str], ends: dict[str, str]
) -> None:
    before = await state(engine)
    named = {k: stock[v] if k.endswith("Id") else v for k, v in ends.items()}
    payload = await transfer(admin, productId=stock["product"], quantity=1, **named)
    assert problems(payload) == [("toWarehouseId", "INVALID")]
    assert await state(engine) == before


async def test_a_transfer_short_of_stock_changes_neither_side(
    admin: Client, engine: AsyncEngine, stock: dict[str, str]
) -> None:
    before = await state(engine)
    for target in ("DC-2", "DC-3"):  # an existing destination and a missing one
        payload = await transfer(
            admin,
            productId=stock["product"],
            fromWarehouseId=stock["DC-1"],
            toWarehouseId=stock[target],
            quantity=91,
        )
        assert payload["fromInventoryLevel"] is None
        assert payload["movements"] == []
        assert problems(payload) == [("quantity", "INSUFFICIENT_STOCK")]
        assert (payload["errors"][0]["available"], payload["errors"][0]["requested"]) == (90, 91)
        # No leg was written, and DC-3's level was not created.
        assert await state(engine) == before


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({"quantity": 0}, ("quantity", "INVALID"), id="zero"),
        pytest.param({"quantity": -5}, ("quantity", "INVALID"), id="negative"),
        pytest.param({"quantity": 1_000_000_001}, ("quantity", "QUANTITY_OUT_OF_RANGE"), id="huge"),
        pytest.param(
            {"toWarehouseId": None, "toWarehouseCode": "NOWHERE"},
            ("toWarehouseCode", "NOT_FOUND"),
            id="unknown-destination",
        ),
        pytest.param(
            {"fromWarehouseId": None, "fromWarehouseCode": "NOWHERE"},
            ("fromWarehouseCode", "NOT_FOUND"),
            id="unknown-source",
        ),
        pytest.param({"timestamp": "2999-01-01T00:00:00Z"}, ("timestamp", "INVALID"), id="future"),
    ],
)
async def test_bad_transfers_change_nothing(
    admin: Client,
    engine: AsyncEngine,
    stock: dict[str, str],
    values: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    before = await state(engine)
    request = {
        "productId": stock["product"],
        "fromWarehouseId": stock["DC-1"],
        "toWarehouseId": stock["DC-2"],
        "quantity": 5,
    }
    payload = await transfer(admin, **{**request, **values})
    assert problems(payload) == [expected]
    assert await state(engine) == before


async def test_a_replayed_transfer_moves_stock_once(
    admin: Client, engine: AsyncEngine, stock: dict[str, str]
) -> None:
    request = {
        "productId": stock["product"],
        "fromWarehouseId": stock["DC-1"],
        "toWarehouseId": stock["DC-2"],
        "quantity": 10,
        "idempotencyKey": "transfer-1",
    }
    first = await transfer(admin, **request)
    after_first = await state(engine)
    again = await transfer(admin, **request)
    assert again == first
    assert await state(engine) == after_first
    assert (first["fromInventoryLevel"]["quantity"], first["toInventoryLevel"]["quantity"]) == (
        90,
        30,
    )
