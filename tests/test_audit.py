"""Audit notes (createInventoryAuditLog): a note on a level written to the ledger as an AUDIT
movement, with its actor, reason and reference, changing no quantity, no version and
publishing no INVENTORY_UPDATED event; read back with the rest of the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import check_invariants
from support.client import Client, operation

NOTE = operation("CreateInventoryAuditLog")
LEVEL_MOVEMENTS = """
query($sku: String!, $code: String!) {
  inventoryLevel(sku: $sku, warehouseCode: $code) {
    version
    movements(first: 10) { nodes { type reason referenceId actor } }
  }
}"""
SET = """
mutation($input: SetInventoryLevelInput!) {
  setInventoryLevel(input: $input) {
    inventoryLevel { quantity version } errors { field code }
  }
}"""


async def rows(engine: AsyncEngine, sql: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(text(sql))).mappings()]


async def ledger(engine: AsyncEngine) -> list[tuple[str, int, int]]:
    found = await rows(
        engine, "SELECT type, d_on_hand, on_hand FROM inventory_movements ORDER BY id"
    )
    return [(r["type"], r["d_on_hand"], r["on_hand"]) for r in found]


async def updates(engine: AsyncEngine) -> int:
    found = await rows(engine, "SELECT count(*) AS n FROM outbox WHERE topic = 'INVENTORY_UPDATED'")
    return int(found[0]["n"])


async def note(client: Client, **values: Any) -> dict[str, Any]:
    given = {"sku": "SKU-1", "warehouseCode": "DC-1", "reason": "label reprinted", **values}
    return dict((await client(NOTE, {"input": given}))["createInventoryAuditLog"])


@pytest.fixture
async def stocked(admin: Client) -> dict[str, Any]:
    """SKU-1 at DC-1: 40 on hand, safety stock 5, then 7 received."""
    ids = await factories.stocked(admin, "SKU-1", {"DC-1": 40}, safetyStock=5)
    await factories.adjust(admin, "SKU-1", "DC-1", 7)
    return ids


async def test_a_note_is_a_ledger_movement_that_changes_nothing(
    operator: Client, engine: AsyncEngine, stocked: dict[str, Any]
) -> None:
    before = (await rows(engine, "SELECT * FROM inventory_levels"))[0]
    events = await updates(engine)
    payload = await note(
        operator, reason="count sheet 12 signed off", referenceId="SHEET-12", correlationId="c-9"
    )
    assert payload["errors"] == []
    movement = payload["movement"]
    assert movement["type"] == "AUDIT"
    assert movement["reason"] == "count sheet 12 signed off"
    assert movement["referenceId"] == "SHEET-12"
    assert (movement["actor"], movement["source"]) == ("test-operator", "API")
    assert (movement["quantity"], movement["previousQuantity"], movement["newQuantity"]) == (
        0,
        47,
        47,
    )
    # Neither the quantities nor the version nor the level's row moved.
    level = payload["inventoryLevel"]
    assert (level["quantity"], level["available"], level["version"]) == (47, 42, before["version"])
    after = (await rows(engine, "SELECT * FROM inventory_levels"))[0]
    assert after == before
    # The ledger holds the note (quantities as they stood); no INVENTORY_UPDATED went out.
    assert await ledger(engine) == [("INITIAL", 40, 40), ("RECEIPT", 7, 47), ("AUDIT", 0, 47)]
    assert await updates(engine) == events
    [stored] = await rows(engine, "SELECT * FROM inventory_movements WHERE type = 'AUDIT'")
    assert stored["correlation_id"] == "c-9"
    await check_invariants(engine)


async def test_notes_are_read_with_the_ledger(
    admin: Client, operator: Client, stocked: dict[str, Any]
) -> None:
    await note(operator, reason="damaged box found, stock fine", referenceId="TICKET-3")
    await factories.adjust(admin, "SKU-1", "DC-1", 2)
    # The level's own movements, newest first: the note among the changes.
    found = (await admin(LEVEL_MOVEMENTS, {"sku": "SKU-1", "code": "DC-1"}))["inventoryLevel"]
    assert [(m["type"], m["reason"]) for m in found["movements"]["nodes"]] == [
        ("RECEIPT", "RECEIPT"),
        ("AUDIT", "damaged box found, stock fine"),
        ("RECEIPT", "RECEIPT"),
        ("INITIAL", "initial stock"),
    ]
    # The ledger, by type and by reference, as getInventoryAuditLogs would ask.
    for filter_ in ({"types": ["AUDIT"]}, {"referenceId": "TICKET-3"}):
        listed = await admin(
            operation("InventoryMovements"), {"filter": {"sku": "SKU-1", **filter_}}
        )
        nodes = [e["node"] for e in listed["inventoryMovements"]["edges"]]
        assert [(n["type"], n["actor"], n["referenceId"]) for n in nodes] == [
            ("AUDIT", "test-operator", "TICKET-3")
        ]


async def test_a_note_leaves_an_expected_version_valid(
    admin: Client, operator: Client, stocked: dict[str, Any]
) -> None:
    """A count read before someone's note still applies: the note bumped no version."""
    read = (await admin(LEVEL_MOVEMENTS, {"sku": "SKU-1", "code": "DC-1"}))["inventoryLevel"]
    await note(operator)
    counted = {"sku": "SKU-1", "warehouseCode": "DC-1", "quantity": 45}
    result = await admin(SET, {"input": {**counted, "expectedVersion": read["version"]}})
    payload = result["setInventoryLevel"]
    assert payload["errors"] == []
    assert payload["inventoryLevel"] == {"quantity": 45, "version": read["version"] + 1}


async def test_a_replayed_note_is_written_once(
    operator: Client, engine: AsyncEngine, stocked: dict[str, Any]
) -> None:
    first = await note(operator, idempotencyKey="note-1")
    again = await note(operator, idempotencyKey="note-1")
    assert again["errors"] == []
    assert again["movement"]["id"] == first["movement"]["id"]
    other = await note(operator, idempotencyKey="note-1", reason="another note")
    assert [(e["field"], e["code"]) for e in other["errors"]] == [
        ("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")
    ]
    assert [t for t, _, _ in await ledger(engine)].count("AUDIT") == 1


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({"reason": "  "}, ("reason", "REQUIRED"), id="blank-reason"),
        pytest.param({"reason": "x" * 501}, ("reason", "INVALID"), id="long-reason"),
        pytest.param({"referenceId": "r" * 201}, ("referenceId", "INVALID"), id="long-reference"),
        pytest.param({"sku": "NOPE"}, ("sku", "NOT_FOUND"), id="unknown-sku"),
        pytest.param({"warehouseCode": "NOPE"}, ("warehouseCode", "NOT_FOUND"), id="unknown-code"),
        pytest.param({"warehouseCode": "DC-2"}, ("sku", "NOT_FOUND"), id="not-stocked-there"),
        pytest.param({"sku": None}, ("productId", "REQUIRED"), id="no-product"),
        pytest.param(
            {"timestamp": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
            ("timestamp", "INVALID"),
            id="future",
        ),
    ],
)
async def test_bad_notes_are_refused_and_write_nothing(
    admin: Client,
    engine: AsyncEngine,
    stocked: dict[str, Any],
    values: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    await factories.warehouse(admin, "DC-2")
    before = await ledger(engine)
    payload = await note(admin, **values)
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [expected]
    assert payload["movement"] is None
    assert await ledger(engine) == before


async def test_only_those_who_manage_stock_write_notes(
    storefront: Client, engine: AsyncEngine, stocked: dict[str, Any]
) -> None:
    before = await ledger(engine)
    payload = await note(storefront)
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert await ledger(engine) == before


async def test_adjustments_cannot_make_audit_movements(
    admin: Client, engine: AsyncEngine, stocked: dict[str, Any]
) -> None:
    before = await ledger(engine)
    for values, field in (({"type": "AUDIT"}, "type"), ({"reason": "AUDIT"}, "reason")):
        given = {"sku": "SKU-1", "warehouseCode": "DC-1", "adjustment": 1, "reason": "x"}
        result = await admin(factories.ADJUST, {"input": {**given, **values}})
        errors = result["adjustInventory"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "INVALID")]
    assert await ledger(engine) == before
