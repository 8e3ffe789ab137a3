"""Source-system events (recordInventoryEvents): applied once, in each source's sequence order,
through the ledger; duplicates ignored, gaps held, stale sequences and bad input rejected."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.core.errors import DomainError
from support import factories
from support.channels import check_invariants, level
from support.client import Client
from support.waiting import until

RECORD = """
mutation($input: RecordInventoryEventsInput!) {
  recordInventoryEvents(input: $input) {
    results {
      sourceSystem eventId sequence status expectedSequence
      errors { field message code available }
      event { id status sequence movements { id quantity type source reason referenceId
        correlationId actor occurredAt } }
    }
    released { eventId status sequence }
    errors { field message code }
  }
}"""
SOURCE_EVENTS = """
query($source: String, $status: [SourceEventStatus!]) {
  sourceEvents(sourceSystem: $source, status: $status) {
    totalCount
    nodes { eventId sequence status type quantity errors { code message field }
      product { sku } warehouse { code } }
  }
}"""
SOURCE_SYSTEMS = """
query($code: String) {
  sourceSystems(code: $code) {
    nodes { code lastAppliedSequence expectedSequence heldCount failedCount }
  }
}"""


def event(sequence: int, **values: Any) -> dict[str, Any]:
    made = {
        "sourceSystem": "WMS-1",
        "eventId": f"E-{sequence}",
        "sequence": sequence,
        "type": "RECEIPT",
        "sku": "SE-1",
        "warehouseCode": "DC-1",
        "quantityDelta": 1,
    }
    made.update(values)
    return made


async def record(client: Client, *events: dict[str, Any]) -> dict[str, Any]:
    data = await client(RECORD, {"input": {"events": list(events)}})
    return dict(data["recordInventoryEvents"])


async def on_hand(engine: AsyncEngine, sku: str = "SE-1", code: str = "DC-1") -> int:
    return int((await level(engine, sku, code))["on_hand"])


async def ledger_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM inventory_movements WHERE source = 'EXTERNAL' ORDER BY id")
        )
        return [dict(r._mapping) for r in rows]


async def test_an_event_is_applied_through_the_ledger_with_its_reference_and_timestamp(
    admin: Client, operator: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 10})
    body = await record(
        operator,
        event(
            1,
            type="PICK",
            quantityDelta=-3,
            referenceDocument="SO-1001",
            correlationId="corr-1",
            occurredAt="2026-11-30T08:15:00+00:00",
        ),
    )
    assert body["errors"] == []
    [result] = body["results"]
    assert result["status"] == "APPLIED"
    assert result["expectedSequence"] == 2
    assert result["errors"] == []
    [movement] = result["event"]["movements"]
    assert movement["quantity"] == -3
    assert movement["type"] == "PICK"
    assert movement["source"] == "EXTERNAL"
    assert movement["referenceId"] == "SO-1001"
    assert movement["correlationId"] == "corr-1"
    assert movement["actor"] == "test-operator"
    assert movement["occurredAt"].startswith("2026-11-30T08:15:00")
    assert await on_hand(engine) == 7
    [row] = await ledger_rows(engine)
    assert row["metadata"]["sourceSystem"] == "WMS-1"
    assert row["metadata"]["eventId"] == "E-1"
    await check_invariants(engine)


async def test_every_event_type_maps_to_its_movement(admin: Client, engine: AsyncEngine) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 20, "DC-2": 0})
    body = await record(
        admin,
        event(1, type="RECEIPT", quantityDelta=5),
        event(2, type="SHIPMENT", quantityDelta=-2),
        event(3, type="RETURN", quantityDelta=1),
        event(4, type="DAMAGE", quantityDelta=-1),
        event(5, type="ADJUSTMENT", quantityDelta=-3),
        event(6, type="TRANSFER", quantityDelta=-4, destinationWarehouseCode="DC-2"),
        event(7, type="COUNT", quantity=12, quantityDelta=None),
    )
    assert [r["status"] for r in body["results"]] == ["APPLIED"] * 7, body
    types = [m["type"] for r in body["results"] for m in r["event"]["movements"]]
    assert types == [
        "RECEIPT",
        "SHIPMENT",
        "RETURN",
        "DAMAGE",
        "ADJUSTMENT",
        "TRANSFER_OUT",
        "TRANSFER_IN",
        "CYCLE_COUNT",
    ]
    assert await on_hand(engine) == 12  # the count sets it: 20+5-2+1-1-3-4 = 16, counted 12
    assert await on_hand(engine, code="DC-2") == 4
    await check_invariants(engine)


async def test_a_duplicate_is_ignored_and_reported(admin: Client, engine: AsyncEngine) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    first = await record(admin, event(1, quantityDelta=4))
    assert first["results"][0]["status"] == "APPLIED"
    again = await record(admin, event(1, quantityDelta=4), event(1, quantityDelta=4))
    assert [r["status"] for r in again["results"]] == ["DUPLICATE", "DUPLICATE"]
    assert again["results"][0]["expectedSequence"] == 2
    assert again["results"][0]["event"]["status"] == "APPLIED"
    assert await on_hand(engine) == 4
    assert len(await ledger_rows(engine)) == 1


async def test_twenty_concurrent_identical_pushes_apply_once(
    base_url: str, tokens: dict[Role, str], admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    batch = [event(1, quantityDelta=2), event(2, quantityDelta=3), event(3, quantityDelta=5)]
    async with AsyncExitStack() as stack:
        clients = [
            Client(
                await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=120)),
                tokens[Role.ADMIN],
            )
            for _ in range(20)
        ]
        bodies = await asyncio.gather(*(record(c, *batch) for c in clients))
    statuses = [tuple(r["status"] for r in b["results"]) for b in bodies]
    assert statuses.count(("APPLIED", "APPLIED", "APPLIED")) == 1, statuses
    assert statuses.count(("DUPLICATE", "DUPLICATE", "DUPLICATE")) == 19, statuses
    assert await on_hand(engine) == 10
    assert len(await ledger_rows(engine)) == 3
    systems = (await admin(SOURCE_SYSTEMS, {"code": "WMS-1"}))["sourceSystems"]["nodes"]
    assert systems == [
        {
            "code": "WMS-1",
            "lastAppliedSequence": 3,
            "expectedSequence": 4,
            "heldCount": 0,
            "failedCount": 0,
        }
    ]
    await check_invariants(engine)


async def test_concurrent_pushes_of_a_sequence_in_pieces_apply_in_order(
    base_url: str, tokens: dict[Role, str], admin: Client, engine: AsyncEngine
) -> None:
    """Ten clients each push one event of 1..10 at once: whatever the arrival order, each
    applies once and the ledger holds them in sequence order."""
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    async with AsyncExitStack() as stack:
        clients = [
            Client(
                await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=120)),
                tokens[Role.ADMIN],
            )
            for _ in range(10)
        ]
        await asyncio.gather(
            *(record(c, event(n + 1, quantityDelta=n + 1)) for n, c in enumerate(clients))
        )
    rows = await ledger_rows(engine)
    assert [r["metadata"]["sequence"] for r in rows] == list(range(1, 11))
    assert await on_hand(engine) == 55


async def test_a_gap_is_held_then_filled_and_both_apply_in_order(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    await record(admin, event(1, quantityDelta=1))
    ahead = await record(admin, event(3, type="PICK", quantityDelta=-2))
    [held] = ahead["results"]
    assert held["status"] == "HELD"
    assert held["expectedSequence"] == 2
    assert held["errors"][0]["code"] == "OUT_OF_ORDER"
    assert held["errors"][0]["field"] == "events.0.sequence"
    assert await on_hand(engine) == 1  # nothing applied yet
    systems = (await admin(SOURCE_SYSTEMS, {"code": "WMS-1"}))["sourceSystems"]["nodes"]
    assert systems[0]["heldCount"] == 1
    assert systems[0]["lastAppliedSequence"] == 1
    # The PICK of 2 could not apply before the RECEIPT of 5: order matters.
    filled = await record(admin, event(2, quantityDelta=5))
    assert filled["results"][0]["status"] == "APPLIED"
    assert filled["results"][0]["expectedSequence"] == 4
    assert filled["released"] == [{"eventId": "E-3", "status": "APPLIED", "sequence": 3}]
    assert await on_hand(engine) == 4
    rows = await ledger_rows(engine)
    assert [r["metadata"]["sequence"] for r in rows] == [1, 2, 3]
    systems = (await admin(SOURCE_SYSTEMS, {"code": "WMS-1"}))["sourceSystems"]["nodes"]
    assert systems[0]["heldCount"] == 0
    assert systems[0]["lastAppliedSequence"] == 3


async def test_a_gap_filled_in_the_same_call_applies_in_sequence_order(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    body = await record(admin, event(2, type="PICK", quantityDelta=-4), event(1, quantityDelta=4))
    assert [r["status"] for r in body["results"]] == ["APPLIED", "APPLIED"]
    rows = await ledger_rows(engine)
    assert [r["metadata"]["sequence"] for r in rows] == [1, 2]
    assert await on_hand(engine) == 0


async def test_a_stale_sequence_is_rejected_with_the_expected_sequence(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    await record(admin, event(1), event(2))
    body = await record(admin, event(2, eventId="OTHER-2", quantityDelta=9))
    [result] = body["results"]
    assert result["status"] == "REJECTED"
    assert result["expectedSequence"] == 3
    assert result["event"] is None
    [error] = result["errors"]
    assert error["code"] == "OUT_OF_ORDER"
    assert error["field"] == "events.0.sequence"
    assert "3" in error["message"]
    assert await on_hand(engine) == 2
    # A second event claiming a held sequence is refused too.
    await record(admin, event(5, eventId="A-5"))
    taken = await record(admin, event(5, eventId="B-5"))
    assert taken["results"][0]["status"] == "REJECTED"
    assert taken["results"][0]["errors"][0]["code"] == "OUT_OF_ORDER"


async def test_bad_input_names_the_field_and_changes_nothing(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 5})
    missing = event(1)
    del missing["quantityDelta"]
    body = await record(
        admin,
        event(1, sku="NO-SUCH-SKU"),
        missing,
        event(1, warehouseCode="NOWHERE"),
        event(1, type="RECEIPT", quantityDelta=-2),
        event(1, type="TRANSFER", quantityDelta=-1),
        {**event(1), "sequence": None},
        event(0),
    )
    results = body["results"]
    assert all(r["status"] == "REJECTED" for r in results), results
    fields = [[(e["field"], e["code"]) for e in r["errors"]] for r in results]
    assert fields == [
        [("events.0.sku", "NOT_FOUND")],
        [("events.1.quantityDelta", "REQUIRED")],
        [("events.2.warehouseCode", "NOT_FOUND")],
        [("events.3.quantityDelta", "INVALID")],
        [("events.4.destinationWarehouseCode", "REQUIRED")],
        [("events.5.sequence", "REQUIRED")],
        [("events.6.sequence", "INVALID")],
    ]
    # A sequence past 64 bits is no Long: GraphQL refuses the document, naming where.
    past = await admin.raw(RECORD, {"input": {"events": [event(1), event(2**63)]}})
    [error] = past["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "events[1].sequence" in error["message"]
    assert await on_hand(engine) == 5
    assert await ledger_rows(engine) == []
    found = await admin(SOURCE_EVENTS, {"source": "WMS-1"})
    assert found["sourceEvents"]["totalCount"] == 0
    # Corrected, the same event id and sequence are accepted.
    fixed = await record(admin, event(1, quantityDelta=2))
    assert fixed["results"][0]["status"] == "APPLIED"
    assert await on_hand(engine) == 7


async def test_a_failed_event_is_recorded_and_the_sequence_moves_past_it(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 2})
    body = await record(
        admin,
        event(1, type="PICK", quantityDelta=-5),
        event(2, type="RECEIPT", quantityDelta=1),
    )
    failed, applied = body["results"]
    assert failed["status"] == "FAILED"
    assert failed["errors"][0]["code"] == "INSUFFICIENT_STOCK"
    assert failed["errors"][0]["field"] == "events.0.quantityDelta"
    assert failed["errors"][0]["available"] == 2
    assert failed["event"]["movements"] == []
    assert applied["status"] == "APPLIED"
    assert applied["expectedSequence"] == 3
    assert await on_hand(engine) == 3  # the PICK changed nothing; the RECEIPT applied
    found = (await admin(SOURCE_EVENTS, {"source": "WMS-1", "status": ["FAILED"]}))["sourceEvents"]
    assert found["totalCount"] == 1
    [node] = found["nodes"]
    assert node["eventId"] == "E-1"
    assert node["type"] == "PICK"
    assert node["quantity"] == -5
    assert node["errors"][0]["code"] == "INSUFFICIENT_STOCK"
    assert node["product"] == {"sku": "SE-1"}
    # Not only listed: an alert says the source system and onhand now disagree.
    found_alerts: list[dict[str, Any]] = []

    async def raised() -> bool:
        page = await admin(
            "{ alerts(filter: {kind: [SOURCE_EVENT_FAILED]}) { nodes { message details } } }"
        )
        found_alerts[:] = page["alerts"]["nodes"]
        return bool(found_alerts)

    await until(raised, "a SOURCE_EVENT_FAILED alert")
    [alert] = found_alerts
    assert alert["message"].startswith("WMS-1 event E-1 (PICK) was refused")
    assert (alert["details"]["eventId"], alert["details"]["sourceSystem"]) == ("E-1", "WMS-1")
    systems = (await admin(SOURCE_SYSTEMS, {"code": "WMS-1"}))["sourceSystems"]["nodes"]
    assert systems[0]["failedCount"] == 1
    assert systems[0]["lastAppliedSequence"] == 2
    async with engine.connect() as conn:
        recorded = await conn.execute(
            text(
                "SELECT payload->>'eventId', payload->>'status' FROM outbox"
                " WHERE topic = 'SOURCE_EVENT_RECORDED' ORDER BY id"
            )
        )
        assert [tuple(r) for r in recorded] == [("E-1", "FAILED"), ("E-2", "APPLIED")]
    # Resending the failed event is a duplicate, not a second attempt.
    again = await record(admin, event(1, type="PICK", quantityDelta=-5))
    assert again["results"][0]["status"] == "DUPLICATE"
    await check_invariants(engine)


async def test_sources_have_their_own_sequences(admin: Client, engine: AsyncEngine) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    body = await record(
        admin,
        event(1, sourceSystem="SAP-EU", quantityDelta=1),
        event(1, sourceSystem="WMS-1", quantityDelta=2),
        event(2, sourceSystem="SAP-EU", quantityDelta=3),
    )
    assert [r["status"] for r in body["results"]] == ["APPLIED"] * 3
    assert [r["expectedSequence"] for r in body["results"]] == [3, 2, 3]
    assert await on_hand(engine) == 6


async def test_recording_events_needs_the_permission(
    storefront: Client, admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 0})
    body = await record(storefront, event(1))
    assert body["results"] == []
    assert body["errors"][0]["code"] == "FORBIDDEN"
    assert await on_hand(engine) == 0
    refused = await storefront.raw(SOURCE_SYSTEMS)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_token_bound_to_a_source_system_posts_only_as_that_system(
    admin: Client, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SE-1", {"DC-1": 5})
    async with engine.begin() as conn:
        wms = await create_token(conn, "wms-1", Role.OPERATOR, source_system="WMS-1")
        with pytest.raises(DomainError) as refused:
            await create_token(conn, "shop-wms", Role.STOREFRONT, source_system="WMS-1")
    assert refused.value.problems[0].field == "sourceSystem"
    bound = Client(http, wms.secret)
    # Its own system, named or left out, is recorded.
    named = await record(bound, event(1))
    unnamed_event = {k: v for k, v in event(2).items() if k != "sourceSystem"}
    unnamed = await record(bound, unnamed_event)
    assert [r["status"] for r in named["results"] + unnamed["results"]] == ["APPLIED"] * 2
    assert unnamed["results"][0]["sourceSystem"] == "WMS-1"
    # Another system's event refuses the whole call, and records nothing.
    other = await record(bound, event(3), event(1, sourceSystem="ERP-9", eventId="X-1"))
    assert [(e["field"], e["code"]) for e in other["errors"]] == [
        ("events.1.sourceSystem", "FORBIDDEN")
    ]
    found = await admin(SOURCE_EVENTS, {"source": None})
    assert found["sourceEvents"]["totalCount"] == 2
    assert await on_hand(engine) == 7
