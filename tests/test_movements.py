"""The audit trail: every change is a ledger movement, listed newest first with the quantities
before and after, who made it and why; the ledger explains every level and cannot be edited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db.tables import BUCKETS
from support import factories
from support.client import Client, operation

NODE = """
  type source actor reason referenceId quantity previousQuantity newQuantity changeId
  product { sku } warehouse { code }
  before { onHand available } after { onHand available } delta { onHand }
"""
LIST = f"""
query($filter: InventoryMovementFilter, $first: Int, $after: String) {{
  inventoryMovements(filter: $filter, first: $first, after: $after) {{
    totalCount
    nodes {{ {NODE} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
ADJUST = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) { movement { id } errors { field code message } }
}"""
TRANSFER = """
mutation($input: TransferInventoryInput!) {
  transferInventory(input: $input) { movements { id } errors { field code message } }
}"""
SET = """
mutation($input: SetInventoryLevelInput!) {
  setInventoryLevel(input: $input) { movement { id } errors { field code message } }
}"""


async def adjust(client: Client, sku: str, code: str, adjustment: int, **values: Any) -> None:
    await client.mutate(
        "adjustInventory",
        ADJUST,
        {
            "input": {
                "sku": sku,
                "warehouseCode": code,
                "adjustment": adjustment,
                "reason": "ADJUSTMENT",
                **values,
            }
        },
    )


async def movements(client: Client, **filter_: Any) -> list[dict[str, Any]]:
    data = (await client(LIST, {"filter": filter_, "first": 250}))["inventoryMovements"]
    assert data["totalCount"] == len(data["nodes"])
    return list(data["nodes"])


def summary(nodes: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(n["product"]["sku"], n["warehouse"]["code"], n["quantity"]) for n in nodes]


async def db_now(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        value = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
    return str(value.isoformat())


async def test_movements_newest_first_with_before_and_after(
    admin: Client, operator: Client
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 100})
    await adjust(operator, "SKU-1", "DC-1", -10, reason="SALE", referenceId="ORDER-1")
    await adjust(admin, "SKU-1", "DC-1", 5, reason="customer return", referenceId="RMA-7")
    nodes = await movements(admin)
    assert [(n["type"], n["quantity"], n["previousQuantity"], n["newQuantity"]) for n in nodes] == [
        ("ADJUSTMENT", 5, 90, 95),
        ("SALE", -10, 100, 90),
        ("INITIAL", 100, 0, 100),
    ]
    newest, sale, initial = nodes
    assert (newest["actor"], newest["source"]) == ("test-admin", "API")
    assert (sale["actor"], sale["source"]) == ("test-operator", "API")
    assert (initial["actor"], initial["reason"]) == ("test-admin", "initial stock")
    assert (newest["reason"], newest["referenceId"]) == ("customer return", "RMA-7")
    assert (sale["reason"], sale["referenceId"]) == ("SALE", "ORDER-1")
    assert sale["before"] == {"onHand": 100, "available": 100}
    assert sale["after"] == {"onHand": 90, "available": 90}
    assert sale["delta"] == {"onHand": -10}


async def test_the_readme_movements_operation(admin: Client) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 3})
    await adjust(admin, "SKU-1", "DC-1", 2, reason="RECEIPT", referenceId="PO-1")
    data = await admin(operation("InventoryMovements"), {"filter": {"sku": "SKU-1"}, "first": 1})
    [edge] = data["inventoryMovements"]["edges"]
    node = edge["node"]
    assert (node["type"], node["referenceId"], node["newQuantity"]) == ("RECEIPT", "PO-1", 5)
    assert (node["product"], node["warehouse"]) == ({"sku": "SKU-1"}, {"code": "DC-1"})
    assert data["inventoryMovements"]["pageInfo"]["hasNextPage"] is True


async def test_a_change_through_the_api_is_the_apis_unless_a_person_says_so(
    admin: Client, operator: Client, storefront: Client
) -> None:
    """Whoever's token makes it, a change through the API is recorded with source API; a
    client that a person drives (GraphiQL sends it) says `X-Onhand-Source: MANUAL`."""
    await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    for client in (admin, operator):
        await adjust(client, "SKU-1", "DC-1", -1, reason="ADJUSTMENT", referenceId="api")
    by_hand = Client(operator.http, operator.token, {"X-Onhand-Source": "manual"})
    await adjust(by_hand, "SKU-1", "DC-1", -1, reason="ADJUSTMENT", referenceId="hand")
    made = {
        (n["referenceId"], n["actor"], n["source"])
        for n in await movements(admin)
        if n["referenceId"] in ("api", "hand")
    }
    assert made == {
        ("api", "test-admin", "API"),
        ("api", "test-operator", "API"),
        ("hand", "test-operator", "MANUAL"),
    }
    assert [n["referenceId"] for n in await movements(admin, sources=["MANUAL"])] == ["hand"]


@pytest.fixture
async def history(admin: Client, operator: Client, engine: AsyncEngine) -> dict[str, Any]:
    """Two products at two warehouses, with adjustments, a transfer and a count; `mid` is a
    moment between the older and the newer half of the history."""
    ids = await factories.stocked(admin, "A", {"DC-1": 50, "DC-2": 10})
    await factories.stocked(admin, "B", {"DC-1": 7})
    await adjust(operator, "A", "DC-1", -5, reason="SALE")
    mid = await db_now(engine)
    await adjust(operator, "B", "DC-1", 3, reason="RECEIPT", referenceId="PO-9")
    await admin.mutate(
        "transferInventory",
        TRANSFER,
        {
            "input": {
                "sku": "A",
                "fromWarehouseCode": "DC-1",
                "toWarehouseCode": "DC-2",
                "quantity": 4,
            }
        },
    )
    await admin.mutate(
        "setInventoryLevel",
        SET,
        {"input": {"sku": "B", "warehouseCode": "DC-1", "quantity": 8, "reason": "count"}},
    )
    return {**ids, "mid": mid}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        pytest.param(
            {},
            [
                ("B", "DC-1", -2),
                ("A", "DC-2", 4),
                ("A", "DC-1", -4),
                ("B", "DC-1", 3),
                ("A", "DC-1", -5),
                ("B", "DC-1", 7),
                ("A", "DC-2", 10),
                ("A", "DC-1", 50),
            ],
            id="everything-newest-first",
        ),
        pytest.param(
            {"sku": "B"}, [("B", "DC-1", -2), ("B", "DC-1", 3), ("B", "DC-1", 7)], id="product"
        ),
        pytest.param(
            {"warehouseCode": "DC-2"}, [("A", "DC-2", 4), ("A", "DC-2", 10)], id="warehouse"
        ),
        pytest.param(
            {"sku": "A", "warehouseCode": "DC-1"},
            [("A", "DC-1", -4), ("A", "DC-1", -5), ("A", "DC-1", 50)],
            id="product-at-warehouse",
        ),
        pytest.param(
            {"types": ["TRANSFER_OUT", "TRANSFER_IN"]},
            [("A", "DC-2", 4), ("A", "DC-1", -4)],
            id="types",
        ),
        pytest.param({"types": ["SET"]}, [("B", "DC-1", -2)], id="type-set"),
        pytest.param({"sources": ["IMPORT"]}, [], id="source-none"),
        pytest.param({"referenceId": "PO-9"}, [("B", "DC-1", 3)], id="reference"),
        pytest.param({"sku": "NOPE"}, [], id="unknown-sku"),
    ],
)
async def test_movement_filters(
    admin: Client,
    history: dict[str, Any],
    filter_: dict[str, Any],
    expected: list[tuple[str, str, int]],
) -> None:
    assert summary(await movements(admin, **filter_)) == expected


async def test_movement_filters_by_ids_source_and_date_range(
    admin: Client, history: dict[str, Any]
) -> None:
    by_ids = await movements(admin, productId=history["product"], warehouseId=history["DC-2"])
    assert summary(by_ids) == [("A", "DC-2", 4), ("A", "DC-2", 10)]
    through_the_api = await movements(admin, sources=["API"])
    assert len(through_the_api) == 8
    newer = await movements(admin, since=history["mid"])
    assert summary(newer) == [
        ("B", "DC-1", -2),
        ("A", "DC-2", 4),
        ("A", "DC-1", -4),
        ("B", "DC-1", 3),
    ]
    older = await movements(admin, until=history["mid"])
    assert summary(older) == [
        ("A", "DC-1", -5),
        ("B", "DC-1", 7),
        ("A", "DC-2", 10),
        ("A", "DC-1", 50),
    ]
    both = await movements(admin, since=history["mid"], until=history["mid"])
    assert both == []


async def test_movements_page_newest_first(admin: Client, history: dict[str, Any]) -> None:
    everything = summary(await movements(admin))
    seen: list[tuple[str, str, int]] = []
    after = None
    while True:
        data = (await admin(LIST, {"first": 3, "after": after}))["inventoryMovements"]
        assert data["totalCount"] == 8
        seen += summary(data["nodes"])
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert seen == everything


async def test_a_levels_own_movements(admin: Client, history: dict[str, Any]) -> None:
    data = await admin(
        f"""query {{ inventoryLevel(sku: "A", warehouseCode: "DC-1") {{
            quantity
            movements(first: 2) {{ totalCount nodes {{ {NODE} }} pageInfo {{ hasNextPage }} }}
        }} }}"""
    )
    level = data["inventoryLevel"]
    assert level["quantity"] == 41
    listed = level["movements"]
    assert listed["totalCount"] == 3
    assert summary(listed["nodes"]) == [("A", "DC-1", -4), ("A", "DC-1", -5)]
    assert listed["nodes"][0]["newQuantity"] == level["quantity"]
    assert listed["pageInfo"]["hasNextPage"] is True


async def test_every_level_equals_the_sum_of_its_ledger(
    admin: Client, engine: AsyncEngine, history: dict[str, Any]
) -> None:
    # Held stock too: damaged units are a bucket of their own, explained by the ledger.
    await admin.mutate(
        "setInventoryLevel",
        SET,
        {"input": {"sku": "A", "warehouseCode": "DC-2", "damaged": 2, "safetyStock": 1}},
    )
    sums = ", ".join(f"coalesce(sum(m.d_{b}), 0) AS s_{b}" for b in BUCKETS)
    levels = ", ".join(f"l.{b}" for b in BUCKETS)
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    text(
                        f"SELECT l.id, {levels}, {sums} FROM inventory_levels l"
                        " LEFT JOIN inventory_movements m ON m.level_id = l.id"
                        f" GROUP BY l.id, {levels} ORDER BY l.id"
                    )
                )
            )
            .mappings()
            .all()
        )
        # Each row's after-values are its level's running sum up to and including it.
        drift = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT on_hand, sum(d_on_hand) OVER"
                    " (PARTITION BY level_id ORDER BY id) AS running FROM inventory_movements) r"
                    " WHERE on_hand <> running"
                )
            )
        ).scalar_one()
    assert len(rows) == 3
    for row in rows:
        for bucket in BUCKETS:
            assert row[bucket] == row[f"s_{bucket}"], (row["id"], bucket)
    assert drift == 0
    assert any(row["damaged"] == 2 for row in rows)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE inventory_movements SET d_on_hand = d_on_hand + 1",
        "UPDATE inventory_movements SET actor = 'someone else' WHERE type = 'SALE'",
        "DELETE FROM inventory_movements",
        "DELETE FROM inventory_movements WHERE type = 'INITIAL'",
    ],
)
async def test_the_ledger_refuses_edits(
    admin: Client, engine: AsyncEngine, history: dict[str, Any], statement: str
) -> None:
    ledger = text("SELECT * FROM inventory_movements ORDER BY id")
    async with engine.connect() as conn:
        before = (await conn.execute(ledger)).all()
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    async with engine.connect() as conn:
        assert (await conn.execute(ledger)).all() == before
