"""Self-healing counts: reconcileInventory(repair: true) works out the repairs of what it
finds (a dry run by default: shown, nothing written) and, with dryRun: false, writes them
through the ledger: reserved and committed rebuilt from the live reservations, changes made
to a level outside the ledger recorded in it, each a RECONCILIATION movement explained by
its reason. The schedule may repair reserved and committed drift by itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.workers.reconciler import reconcile_if_due
from support import factories
from support.client import Client, clients

RECONCILE = """
mutation($input: ReconcileInventoryInput) {
  reconcileInventory(input: $input) {
    run { repair discrepancyCount
      discrepancies { nodes { bucket basis status } }
      repairs { nodes { kind bucket recorded expected delta movementType reason applied
        product { sku } warehouse { code } movement { type reason source } } } }
    errors { field message code }
  }
}"""
TRANSFER = """
mutation($input: CreateTransferOrderInput!) {
  createTransferOrder(input: $input) { errors { field code } }
}"""
LEVELS = """
SELECT p.sku, w.code, l.on_hand, l.reserved, l.version FROM inventory_levels l
JOIN products p ON p.id = l.product_id JOIN warehouses w ON w.id = l.warehouse_id
ORDER BY p.sku, w.code
"""
ON_SKU1_DC1 = (
    " WHERE product_id = (SELECT id FROM products WHERE sku = 'SKU-1')"
    " AND warehouse_id = (SELECT id FROM warehouses WHERE code = 'DC-1')"
)


async def sql(engine: AsyncEngine, statement: str) -> list[tuple[Any, ...]]:
    async with engine.begin() as conn:
        result = await conn.execute(text(statement))
        return [tuple(r) for r in result.all()] if result.returns_rows else []


async def reconcile(client: Client, **values: Any) -> dict[str, Any]:
    found = await client(RECONCILE, {"input": values or None})
    return dict(found["reconcileInventory"])


async def hold(operator: Client, sku: str, quantity: int) -> None:
    items = [{"sku": sku, "quantity": quantity}]
    made = await operator(
        TRANSFER,
        {"input": {"fromWarehouseCode": "DC-1", "toWarehouseCode": "DC-2", "items": items}},
    )
    assert made["createTransferOrder"]["errors"] == []


@pytest.fixture
async def drifted(admin: Client, operator: Client, engine: AsyncEngine) -> None:
    """SKU-1 at DC-1: 100, 10 held by a transfer order, then changed behind the ledger
    (on hand +7, reserved +2). SKU-2 at DC-1: 5, 2 held, whose reservation a bug released
    without releasing its stock."""
    await factories.stocked(admin, "SKU-1", {"DC-1": 100, "DC-2": 0})
    await factories.stocked(admin, "SKU-2", {"DC-1": 5})
    await hold(operator, "SKU-1", 10)
    await hold(operator, "SKU-2", 2)
    await sql(engine, f"UPDATE inventory_levels SET on_hand = 107, reserved = 12{ON_SKU1_DC1}")
    await sql(
        engine,
        "UPDATE reservations SET status = 'RELEASED'"
        " WHERE product_id = (SELECT id FROM products WHERE sku = 'SKU-2')",
    )


def summary(run: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (r["product"]["sku"], r["kind"], r["bucket"], r["recorded"], r["expected"], r["delta"])
        for r in run["repairs"]["nodes"]
    ]


EXPECTED = [
    ("SKU-1", "RECORD_OUTSIDE_CHANGE", "on_hand", 107, 100, 7),
    ("SKU-1", "RECORD_OUTSIDE_CHANGE", "reserved", 12, 10, 2),
    ("SKU-1", "REBUILD_FROM_RESERVATIONS", "reserved", 12, 10, -2),
    ("SKU-2", "REBUILD_FROM_RESERVATIONS", "reserved", 2, 0, -2),
]


async def test_a_dry_run_lists_the_repairs_and_changes_nothing(
    operator: Client, engine: AsyncEngine, drifted: None
) -> None:
    levels = await sql(engine, LEVELS)
    ledger = await sql(engine, "SELECT count(*) FROM inventory_movements")
    done = await reconcile(operator, repair=True)
    assert done["errors"] == []
    run = done["run"]
    assert (run["repair"], run["discrepancyCount"]) == ("DRY_RUN", 4)
    assert summary(run) == EXPECTED
    assert {r["movementType"] for r in run["repairs"]["nodes"]} == {"RECONCILIATION"}
    assert not any(r["applied"] or r["movement"] for r in run["repairs"]["nodes"])
    first = run["repairs"]["nodes"][0]["reason"]
    assert "on_hand is 107 but the ledger explains 100" in first
    rebuild = run["repairs"]["nodes"][3]["reason"]
    assert "reserved is 2 but 0 active cart and transfer holds hold 0" in rebuild
    # Nothing written: levels, ledger, events.
    assert await sql(engine, LEVELS) == levels
    assert await sql(engine, "SELECT count(*) FROM inventory_movements") == ledger
    assert await sql(
        engine, "SELECT count(*) FROM outbox WHERE topic = 'RECONCILIATION_REPAIRED'"
    ) == [(0,)]
    # dryRun: false is a write, and says so.
    refused = await reconcile(operator, dryRun=False)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("dryRun", "INVALID")]
    assert await sql(engine, LEVELS) == levels


async def test_repair_puts_every_level_right_through_the_ledger(
    operator: Client, engine: AsyncEngine, drifted: None
) -> None:
    done = await reconcile(operator, repair=True, dryRun=False)
    assert done["errors"] == []
    run = done["run"]
    assert run["repair"] == "APPLIED"
    assert summary(run) == EXPECTED
    for node in run["repairs"]["nodes"]:
        assert node["applied"]
        assert node["movement"]["type"] == "RECONCILIATION"
        assert node["movement"]["source"] == "SYSTEM"
        assert node["reason"] in node["movement"]["reason"]
    assert {d["status"] for d in run["discrepancies"]["nodes"]} == {"REPAIRED"}
    # On hand kept (only a count says the shelf differs), reserved rebuilt from the holds.
    levels = {
        (sku, code): (on_hand, reserved)
        for sku, code, on_hand, reserved, _ in await sql(engine, LEVELS)
    }
    assert levels[("SKU-1", "DC-1")] == (107, 10)
    assert levels[("SKU-2", "DC-1")] == (5, 0)
    # The ledger explains every level again, and the holds match: nothing left to find.
    again = (await reconcile(operator))["run"]
    assert again["discrepancyCount"] == 0
    # The rebuilt levels told their channels; each repaired level says what was done.
    updates = await sql(
        engine,
        "SELECT payload->>'type', payload->'after'->>'reserved' FROM outbox"
        " WHERE topic = 'INVENTORY_UPDATED' AND payload->>'type' = 'RECONCILIATION'"
        " ORDER BY id",
    )
    assert updates == [("RECONCILIATION", "10"), ("RECONCILIATION", "0")]
    repaired = await sql(
        engine,
        "SELECT json_array_length(payload->'repairs') FROM outbox"
        " WHERE topic = 'RECONCILIATION_REPAIRED' ORDER BY id",
    )
    assert repaired == [(3,), (1,)]
    # Applying again finds nothing to repair.
    assert (await reconcile(operator, repair=True, dryRun=False))["run"]["repairs"]["nodes"] == []


async def test_the_schedule_repairs_reserved_and_committed_and_leaves_on_hand(
    operator: Client, engine: AsyncEngine, drifted: None
) -> None:
    async with engine.begin() as conn:
        await reconcile_if_due(conn, 0.001, auto_repair=True)
    written = await sql(
        engine, "SELECT kind, bucket, applied FROM reconciliation_repairs ORDER BY id"
    )
    # Reserved and committed only: on hand is a person's call.
    assert written == [
        ("RECORD_OUTSIDE_CHANGE", "reserved", True),
        ("REBUILD_FROM_RESERVATIONS", "reserved", True),
        ("REBUILD_FROM_RESERVATIONS", "reserved", True),
    ]
    levels = {
        (sku, code): (on_hand, reserved)
        for sku, code, on_hand, reserved, _ in await sql(engine, LEVELS)
    }
    assert levels[("SKU-1", "DC-1")] == (107, 10)
    assert levels[("SKU-2", "DC-1")] == (5, 0)
    left = (await reconcile(operator))["run"]["discrepancies"]["nodes"]
    assert [(d["bucket"], d["basis"]) for d in left] == [("on_hand", "LEDGER")]


async def test_concurrent_repairs_and_holds_leave_every_level_right(
    base_url: str, tokens: dict[Role, str], engine: AsyncEngine, drifted: None
) -> None:
    """Three applying runs at once, while transfer orders hold and release stock on the same
    levels: the drift is repaired once, and the holds made meanwhile are all still counted."""
    async with clients(base_url, tokens[Role.OPERATOR], 7) as (a, b, c, *holders):
        runs = [reconcile(x, repair=True, dryRun=False) for x in (a, b, c)]
        holds = [hold(x, "SKU-1", 1) for x in holders]
        done = await asyncio.gather(*runs, *holds)
    repaired = [len(d["run"]["repairs"]["nodes"]) for d in done[:3]]
    assert sorted(repaired) == [0, 0, 4]  # one run repaired; the others found nothing left
    levels = {row[:2]: row[2:4] for row in await sql(engine, LEVELS)}
    assert levels[("SKU-1", "DC-1")] == (107, 14)  # the 10 held before, and 4 held meanwhile
    assert levels[("SKU-2", "DC-1")] == (5, 0)
    async with clients(base_url, tokens[Role.OPERATOR], 1) as (last,):
        assert (await reconcile(last))["run"]["discrepancyCount"] == 0
