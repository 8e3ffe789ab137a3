"""Reconciliation: levels checked against the ledger and the active reservations, on demand
and on a schedule; it reports what is wrong and fixes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.config import Settings
from onhand.workers.reconciler import RECONCILER_LOCK, reconcile_if_due
from support import factories
from support.client import Client

RUN = """
  id trigger actor levelsChecked discrepancyCount warehouse { code } product { sku }
  discrepancies {
    nodes {
      bucket basis recorded expected difference status
      product { sku } warehouse { code } inventoryLevel { quantity }
    }
  }
"""
RECONCILE = f"""
mutation($input: ReconcileInventoryInput) {{
  reconcileInventory(input: $input) {{ run {{ {RUN} }} errors {{ field message code }} }}
}}"""
REPORT = """
{ reconciliationReport {
    runs { trigger discrepancyCount }
    openDiscrepancies { nodes { bucket basis recorded expected product { sku } } }
} }"""
TRANSFER = """
mutation($input: CreateTransferOrderInput!) {
  createTransferOrder(input: $input) { transferOrder { number } errors { field code } }
}"""


async def reconcile(client: Client, **values: Any) -> dict[str, Any]:
    found = await client(RECONCILE, {"input": values or None})
    return dict(found["reconcileInventory"])


async def sql(engine: AsyncEngine, statement: str, **params: Any) -> list[Any]:
    async with engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


@pytest.fixture
async def stock(admin: Client, operator: Client) -> dict[str, str]:
    """SKU-1 at DC-1 (100) and DC-2 (20), SKU-2 at DC-1 (5), adjusted and reserved."""
    ids = await factories.stocked(admin, "SKU-1", {"DC-1": 100, "DC-2": 20})
    await factories.stocked(admin, "SKU-2", {"DC-1": 5})
    adjusted = await operator(
        """mutation { adjustInventory(input: {sku: "SKU-1", warehouseCode: "DC-1",
            adjustment: -3, reason: "SALE"}) { errors { code } } }"""
    )
    assert adjusted["adjustInventory"]["errors"] == []
    held = await operator(
        TRANSFER,
        {
            "input": {
                "fromWarehouseCode": "DC-1",
                "toWarehouseCode": "DC-2",
                "items": [{"sku": "SKU-1", "quantity": 10}],
            }
        },
    )
    assert held["createTransferOrder"]["errors"] == []
    return ids


async def test_a_clean_database_reports_nothing(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    done = await reconcile(operator)
    assert done["errors"] == []
    run = done["run"]
    assert (run["trigger"], run["levelsChecked"], run["discrepancyCount"]) == ("MANUAL", 3, 0)
    assert run["warehouse"] is None
    assert run["discrepancies"]["nodes"] == []
    report = (await operator(REPORT))["reconciliationReport"]
    assert report["runs"] == [{"trigger": "MANUAL", "discrepancyCount": 0}]
    assert report["openDiscrepancies"]["nodes"] == []
    [event] = await sql(
        engine, "SELECT payload FROM outbox WHERE topic = 'RECONCILIATION_COMPLETED'"
    )
    assert event.payload["discrepancyCount"] == 0
    assert event.payload["levelsChecked"] == 3


async def test_a_level_corrupted_behind_the_api_is_found_and_left_alone(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    # What a bad manual fix or a bug would do: change quantities without the ledger.
    await sql(
        engine,
        "UPDATE inventory_levels SET on_hand = on_hand + 7, reserved = reserved + 2"
        " WHERE product_id = (SELECT id FROM products WHERE sku = 'SKU-1')"
        " AND warehouse_id = (SELECT id FROM warehouses WHERE code = 'DC-1')",
    )
    run = (await reconcile(operator))["run"]
    assert run["discrepancyCount"] == 3
    found = sorted(
        (d["bucket"], d["basis"], d["recorded"], d["expected"], d["difference"])
        for d in run["discrepancies"]["nodes"]
    )
    assert found == [
        ("on_hand", "LEDGER", 104, 97, 7),
        ("reserved", "LEDGER", 12, 10, 2),
        ("reserved", "RESERVATIONS", 12, 10, 2),
    ]
    node = run["discrepancies"]["nodes"][0]
    assert (node["product"]["sku"], node["warehouse"]["code"]) == ("SKU-1", "DC-1")
    assert node["status"] == "OPEN"
    # Reported, not fixed.
    [(on_hand, reserved)] = await sql(
        engine,
        "SELECT on_hand, reserved FROM inventory_levels l JOIN warehouses w"
        " ON w.id = l.warehouse_id JOIN products p ON p.id = l.product_id"
        " WHERE w.code = 'DC-1' AND p.sku = 'SKU-1'",
    )
    assert (on_hand, reserved) == (104, 12)
    report = (await operator(REPORT))["reconciliationReport"]
    assert len(report["openDiscrepancies"]["nodes"]) == 3

    # Once put right, the next run supersedes the old findings.
    await sql(
        engine,
        "UPDATE inventory_levels SET on_hand = on_hand - 7, reserved = reserved - 2"
        " WHERE product_id = (SELECT id FROM products WHERE sku = 'SKU-1')"
        " AND warehouse_id = (SELECT id FROM warehouses WHERE code = 'DC-1')",
    )
    again = (await reconcile(operator))["run"]
    assert again["discrepancyCount"] == 0
    report = (await operator(REPORT))["reconciliationReport"]
    assert report["openDiscrepancies"]["nodes"] == []
    assert [r["discrepancyCount"] for r in report["runs"]] == [0, 3]


async def test_one_warehouse_at_a_time(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    await sql(
        engine,
        "UPDATE inventory_levels SET damaged = 1"
        " WHERE warehouse_id = (SELECT id FROM warehouses WHERE code = 'DC-1')"
        " AND product_id = (SELECT id FROM products WHERE sku = 'SKU-2')",
    )
    other = (await reconcile(operator, warehouseCode="DC-2"))["run"]
    assert (other["levelsChecked"], other["discrepancyCount"]) == (1, 0)
    assert other["warehouse"] == {"code": "DC-2"}
    mine = (await reconcile(operator, warehouseId=stock["DC-1"]))["run"]
    assert (mine["levelsChecked"], mine["discrepancyCount"]) == (2, 1)
    [found] = mine["discrepancies"]["nodes"]
    assert (found["bucket"], found["recorded"], found["expected"]) == ("damaged", 1, 0)


async def test_one_sku_at_a_time_leaves_other_products_findings_open(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    await sql(
        engine,
        "UPDATE inventory_levels SET damaged = 1"
        " WHERE product_id IN (SELECT id FROM products WHERE sku IN ('SKU-1', 'SKU-2'))",
    )
    everything = (await reconcile(operator))["run"]
    assert everything["discrepancyCount"] == 3
    mine = (await reconcile(operator, sku="SKU-1"))["run"]
    assert (mine["levelsChecked"], mine["discrepancyCount"]) == (2, 2)
    assert (mine["product"], mine["warehouse"]) == ({"sku": "SKU-1"}, None)
    assert {d["product"]["sku"] for d in mine["discrepancies"]["nodes"]} == {"SKU-1"}
    # SKU-2's finding of the first run is still open: this run did not look at it.
    report = (await operator(REPORT))["reconciliationReport"]
    assert sorted(d["product"]["sku"] for d in report["openDiscrepancies"]["nodes"]) == [
        "SKU-1",
        "SKU-1",
        "SKU-2",
    ]
    one_level = (await reconcile(operator, sku="SKU-1", warehouseCode="DC-2"))["run"]
    assert (one_level["levelsChecked"], one_level["discrepancyCount"]) == (1, 1)
    refused = await reconcile(operator, sku="NOTHING")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("sku", "NOT_FOUND")]


async def test_an_unknown_warehouse_is_refused_without_a_run(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    refused = await reconcile(operator, warehouseCode="NOWHERE")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("warehouseCode", "NOT_FOUND")]
    bad_id = await reconcile(operator, warehouseId="bogus")
    assert [(e["field"], e["code"]) for e in bad_id["errors"]] == [("warehouseId", "INVALID_ID")]
    assert await sql(engine, "SELECT id FROM reconciliation_runs") == []


async def test_reports_need_the_audit_permission(
    storefront: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    refused = await reconcile(storefront)
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    body = await storefront.raw(REPORT)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await sql(engine, "SELECT id FROM reconciliation_runs") == []


async def test_the_schedule_runs_once_per_interval_across_processes(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        assert await reconcile_if_due(conn, 3600) == 3600
    async with engine.begin() as conn:
        wait = await reconcile_if_due(conn, 3600)
    assert wait is not None
    assert 3500 < wait <= 3600
    # Another process checking now: this one leaves it to them.
    async with engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": RECONCILER_LOCK})
        async with engine.begin() as conn:
            assert await reconcile_if_due(conn, 0.001) is None
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RECONCILER_LOCK})
    async with engine.begin() as conn:
        assert await reconcile_if_due(conn, 0.001) == 0.001
    runs = await sql(engine, "SELECT trigger, actor FROM reconciliation_runs ORDER BY id")
    assert [tuple(r) for r in runs] == [("SCHEDULED", "reconciler")] * 2
    report = (await operator(REPORT))["reconciliationReport"]
    assert [r["trigger"] for r in report["runs"]] == ["SCHEDULED", "SCHEDULED"]


def test_the_loop_runs_in_servers_and_workers() -> None:
    from onhand.workers.runner import selected

    [loop] = selected(["reconciler"])
    assert loop.interval(Settings()) == 3600
    assert loop.interval(Settings(reconciliation_interval_minutes=5)) == 300
    assert loop.enabled(Settings())
    assert not loop.enabled(Settings(reconciliation_interval_minutes=0))  # schedule off
