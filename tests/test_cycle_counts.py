"""Cycle counts: small differences applied at once, larger ones reviewed (approved against
the count-time difference, or rejected)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.config import Settings
from support import factories
from support.channels import check_invariants
from support.client import Client

LINE = """
  id countedQuantity systemQuantity difference status reviewedBy reviewNote
  product { sku } warehouse { code } movement { type quantity reason referenceId }
"""
RECORD = f"""
mutation($input: RecordCycleCountInput!) {{
  recordCycleCount(input: $input) {{
    cycleCount {{ id threshold referenceId warehouse {{ code }} lines {{ {LINE} }} }}
    errors {{ field message code }}
  }}
}}"""
APPROVE = f"""
mutation($input: ApproveCycleCountLineInput!) {{
  approveCycleCountLine(input: $input) {{ cycleCountLine {{ {LINE} }} errors {{ field code }} }}
}}"""
REJECT = f"""
mutation($input: RejectCycleCountLineInput!) {{
  rejectCycleCountLine(input: $input) {{ cycleCountLine {{ {LINE} }} errors {{ field code }} }}
}}"""
REVIEWS = """
query($status: [CycleCountLineStatus!]) {
  cycleCountReviews(status: $status) { nodes { id difference status product { sku } } }
}"""


async def record(client: Client, **values: Any) -> dict[str, Any]:
    found = await client(RECORD, {"input": {"warehouseCode": "DC-1", **values}})
    return dict(found["recordCycleCount"])


async def on_hand(engine: AsyncEngine, sku: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT l.on_hand FROM inventory_levels l JOIN products p ON p.id = l.product_id"
                " JOIN warehouses w ON w.id = l.warehouse_id"
                " WHERE p.sku = :sku AND w.code = 'DC-1'"
            ),
            {"sku": sku},
        )
        return int(found.scalar_one())


async def snapshot(engine: AsyncEngine) -> tuple[Any, ...]:
    """Everything a refused change must leave as it was."""
    result = []
    async with engine.connect() as conn:
        for query in (
            "SELECT id, on_hand, version FROM inventory_levels ORDER BY id",
            "SELECT count(*) FROM inventory_movements",
            "SELECT count(*) FROM cycle_counts",
            "SELECT id, status FROM cycle_count_lines ORDER BY id",
        ):
            result.append([tuple(row) for row in await conn.execute(text(query))])
    return tuple(result)


@pytest.fixture
async def stock(admin: Client) -> None:
    """At DC-1: SKU-1 100, SKU-2 50; SKU-3 exists but is not stocked there."""
    await factories.stocked(admin, "SKU-1", {"DC-1": 100})
    await factories.stocked(admin, "SKU-2", {"DC-1": 50})
    await factories.product(admin, "SKU-3")


async def test_differences_within_the_threshold_are_applied_at_once(
    operator: Client, stock: None, engine: AsyncEngine
) -> None:
    done = await record(
        operator,
        counts=[{"sku": "SKU-1", "countedQuantity": 95}, {"sku": "SKU-2", "countedQuantity": 50}],
        referenceId="aisle 4",
    )
    assert done["errors"] == []
    count = done["cycleCount"]
    assert (count["threshold"], count["referenceId"]) == (5, "aisle 4")
    first, second = count["lines"]
    assert (first["systemQuantity"], first["difference"], first["status"]) == (100, -5, "APPLIED")
    assert first["movement"]["type"] == "CYCLE_COUNT"
    assert first["movement"]["quantity"] == -5
    assert (second["difference"], second["status"], second["movement"]) == (0, "MATCHED", None)
    assert await on_hand(engine, "SKU-1") == 95
    assert await on_hand(engine, "SKU-2") == 50
    reviews = await operator(REVIEWS)
    assert reviews["cycleCountReviews"]["nodes"] == []
    await check_invariants(engine)


async def test_a_larger_difference_waits_and_approval_keeps_later_changes(
    operator: Client, stock: None, engine: AsyncEngine
) -> None:
    done = await record(operator, counts=[{"sku": "SKU-1", "countedQuantity": 80}])
    [line] = done["cycleCount"]["lines"]
    assert (line["difference"], line["status"], line["movement"]) == (-20, "PENDING_REVIEW", None)
    assert await on_hand(engine, "SKU-1") == 100
    queue = (await operator(REVIEWS))["cycleCountReviews"]["nodes"]
    assert [(n["id"], n["difference"]) for n in queue] == [(line["id"], -20)]

    # Five sold after the count: approving must not undo the sale.
    sold = await operator(
        """mutation { adjustInventory(input: {sku: "SKU-1", warehouseCode: "DC-1",
            adjustment: -5, reason: "SALE"}) { errors { code } } }"""
    )
    assert sold["adjustInventory"]["errors"] == []
    approved = await operator(APPROVE, {"input": {"id": line["id"], "note": "recounted twice"}})
    result = approved["approveCycleCountLine"]
    assert result["errors"] == []
    after = result["cycleCountLine"]
    assert (after["status"], after["reviewedBy"], after["reviewNote"]) == (
        "APPROVED",
        "test-operator",
        "recounted twice",
    )
    assert (after["movement"]["type"], after["movement"]["quantity"]) == ("CYCLE_COUNT", -20)
    assert await on_hand(engine, "SKU-1") == 75
    assert (await operator(REVIEWS))["cycleCountReviews"]["nodes"] == []

    before = await snapshot(engine)
    twice = await operator(APPROVE, {"input": {"id": line["id"]}})
    assert twice["approveCycleCountLine"]["errors"] == [
        {"field": "id", "code": "INVALID_TRANSITION"}
    ]
    rejected = await operator(REJECT, {"input": {"id": line["id"]}})
    assert rejected["rejectCycleCountLine"]["errors"] == [
        {"field": "id", "code": "INVALID_TRANSITION"}
    ]
    assert await snapshot(engine) == before
    await check_invariants(engine)


async def test_rejecting_changes_no_stock(
    operator: Client, stock: None, engine: AsyncEngine
) -> None:
    done = await record(operator, counts=[{"sku": "SKU-2", "countedQuantity": 60}])
    [line] = done["cycleCount"]["lines"]
    assert (line["difference"], line["status"]) == (10, "PENDING_REVIEW")
    before = await snapshot(engine)
    rejected = await operator(REJECT, {"input": {"id": line["id"], "note": "miscount"}})
    after = rejected["rejectCycleCountLine"]["cycleCountLine"]
    assert (after["status"], after["reviewNote"], after["movement"]) == (
        "REJECTED",
        "miscount",
        None,
    )
    assert await on_hand(engine, "SKU-2") == 50
    levels, movements, *_ = await snapshot(engine)
    assert (levels, movements) == before[:2]
    found = await operator(REVIEWS, {"status": ["REJECTED"]})
    assert [n["product"]["sku"] for n in found["cycleCountReviews"]["nodes"]] == ["SKU-2"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"counts": []}, [("counts", "REQUIRED")]),
        (
            {"counts": [{"sku": "SKU-1", "countedQuantity": -1}]},
            [("counts.0.countedQuantity", "INVALID")],
        ),
        ({"counts": [{"sku": "NOPE", "countedQuantity": 1}]}, [("counts.0.sku", "NOT_FOUND")]),
        ({"counts": [{"sku": "SKU-3", "countedQuantity": 1}]}, [("counts.0.sku", "NOT_FOUND")]),
        ({"counts": [{"countedQuantity": 1}]}, [("counts.0.productId", "REQUIRED")]),
        (
            {
                "counts": [
                    {"sku": "SKU-1", "countedQuantity": 99},
                    {"sku": "SKU-1", "countedQuantity": 98},
                ]
            },
            [("counts.1.sku", "INVALID")],
        ),
        (
            {"warehouseCode": "NOWHERE", "counts": [{"sku": "SKU-1", "countedQuantity": 1}]},
            [("warehouseCode", "NOT_FOUND")],
        ),
        (
            {"warehouseCode": None, "counts": [{"sku": "SKU-1", "countedQuantity": 1}]},
            [("warehouseId", "REQUIRED")],
        ),
    ],
)
async def test_bad_input_names_the_field_and_changes_nothing(
    operator: Client,
    stock: None,
    engine: AsyncEngine,
    values: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    before = await snapshot(engine)
    refused = await record(operator, **values)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == expected
    assert refused["cycleCount"] is None
    assert await snapshot(engine) == before


async def test_a_replayed_count_is_recorded_once(
    operator: Client, stock: None, engine: AsyncEngine
) -> None:
    values = {"counts": [{"sku": "SKU-1", "countedQuantity": 98}], "idempotencyKey": "count-1"}
    first = await record(operator, **values)
    again = await record(operator, **values)
    assert again["cycleCount"]["id"] == first["cycleCount"]["id"]
    assert await on_hand(engine, "SKU-1") == 98


async def test_storefronts_may_not_count_or_read_reviews(
    storefront: Client, stock: None, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    refused = await record(storefront, counts=[{"sku": "SKU-1", "countedQuantity": 1}])
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    body = await storefront.raw(REVIEWS)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await snapshot(engine) == before


def test_the_threshold_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().cycle_count_threshold == 5
    monkeypatch.setenv("ONHAND_CYCLE_COUNT_THRESHOLD", "12")
    assert Settings().cycle_count_threshold == 12


async def test_reviewing_an_unknown_line_is_refused(operator: Client, stock: None) -> None:
    missing = await operator(APPROVE, {"input": {"id": "Q3ljbGVDb3VudExpbmU6OTk5"}})
    assert missing["approveCycleCountLine"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    bad = await operator(REJECT, {"input": {"id": "nonsense"}})
    assert bad["rejectCycleCountLine"]["errors"] == [{"field": "id", "code": "INVALID_ID"}]
