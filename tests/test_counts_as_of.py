"""Counts as of their time: a cycle count or a source system's COUNT snapshot that carries
the moment it was counted corrects on hand by its difference as of that moment, so sales and
receipts recorded after it are kept (never overwritten by a late snapshot)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import check_invariants
from support.client import Client

EVENTS = """
mutation($input: RecordInventoryEventsInput!) {
  recordInventoryEvents(input: $input) {
    results { status errors { field code message }
      event { occurredAt movements { type quantity occurredAt } } }
    errors { field code }
  }
}"""
COUNT = """
mutation($input: RecordCycleCountInput!) {
  recordCycleCount(input: $input) {
    cycleCount { countedAt lines { systemQuantity difference status
      movement { type quantity occurredAt } } }
    errors { field code message }
  }
}"""
SALE = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) { errors { field code } }
}"""


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def on_hand(engine: AsyncEngine, sku: str = "AS-1") -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT l.on_hand FROM inventory_levels l JOIN products p ON p.id = l.product_id"
                " WHERE p.sku = :sku"
            ),
            {"sku": sku},
        )
        return int(found.scalar_one())


async def counted_ten_then_sold_two(admin: Client, operator: Client) -> datetime:
    """10 on hand, counted (t0); a sale of 2 recorded after the count (t0 + 1 s)."""
    await factories.stocked(admin, "AS-1", {"DC-1": 10})
    t0 = datetime.now(UTC)
    sale = {
        "sku": "AS-1",
        "warehouseCode": "DC-1",
        "adjustment": -2,
        "reason": "SALE",
        "timestamp": iso(t0 + timedelta(seconds=1)),
    }
    await operator.mutate("adjustInventory", SALE, {"input": sale})
    return t0


def snapshot(sequence: int, quantity: int, **values: Any) -> dict[str, Any]:
    return {
        "sourceSystem": "ERP-1",
        "eventId": f"SNAP-{sequence}",
        "sequence": sequence,
        "type": "COUNT",
        "sku": "AS-1",
        "warehouseCode": "DC-1",
        "quantity": quantity,
        **values,
    }


async def push(client: Client, *events: dict[str, Any]) -> list[dict[str, Any]]:
    data = await client(EVENTS, {"input": {"events": list(events)}})
    return list(data["recordInventoryEvents"]["results"])


async def test_a_late_snapshot_keeps_the_sales_recorded_after_it(
    admin: Client, operator: Client, engine: AsyncEngine
) -> None:
    t0 = await counted_ten_then_sold_two(admin, operator)
    # Applied now (t0 + 2 and later): the ERP saw 10 at t0, as the ledger did then.
    [result] = await push(operator, snapshot(1, 10, countedAt=iso(t0)))
    assert result["status"] == "APPLIED", result
    assert result["event"]["movements"] == []  # nothing to correct as of t0
    assert await on_hand(engine) == 8  # not 10: the sale stays

    # A snapshot that found one unit missing at t0 takes that one unit, and only it.
    [result] = await push(operator, snapshot(2, 9, countedAt=iso(t0)))
    assert result["status"] == "APPLIED", result
    [movement] = result["event"]["movements"]
    assert (movement["type"], movement["quantity"]) == ("CYCLE_COUNT", -1)
    assert datetime.fromisoformat(movement["occurredAt"]) == t0  # dated at the count
    assert await on_hand(engine) == 7

    # The same snapshot again (another event id) finds its correction already there.
    [result] = await push(operator, snapshot(3, 9, occurredAt=iso(t0)))
    assert result["event"]["movements"] == []
    assert await on_hand(engine) == 7

    # A snapshot without a moment is as of now: on hand becomes what it says.
    [result] = await push(operator, snapshot(4, 5))
    assert result["event"]["movements"][0]["quantity"] == -2
    assert await on_hand(engine) == 5
    await check_invariants(engine)


async def test_a_late_cycle_count_keeps_the_sales_recorded_after_it(
    admin: Client, operator: Client, engine: AsyncEngine
) -> None:
    t0 = await counted_ten_then_sold_two(admin, operator)
    request = {"warehouseCode": "DC-1", "countedAt": iso(t0)}
    done = await operator(
        COUNT, {"input": {**request, "counts": [{"sku": "AS-1", "countedQuantity": 10}]}}
    )
    count = done["recordCycleCount"]["cycleCount"]
    assert datetime.fromisoformat(count["countedAt"]) == t0
    [line] = count["lines"]
    assert (line["systemQuantity"], line["difference"], line["status"]) == (10, 0, "MATCHED")
    assert await on_hand(engine) == 8

    done = await operator(
        COUNT, {"input": {**request, "counts": [{"sku": "AS-1", "countedQuantity": 11}]}}
    )
    [line] = done["recordCycleCount"]["cycleCount"]["lines"]
    assert (line["systemQuantity"], line["difference"], line["status"]) == (10, 1, "APPLIED")
    assert datetime.fromisoformat(line["movement"]["occurredAt"]) == t0
    assert await on_hand(engine) == 9  # 8 now, plus the unit the count found at t0
    await check_invariants(engine)


async def test_a_count_time_that_cannot_be_is_refused_and_changes_nothing(
    admin: Client, operator: Client, engine: AsyncEngine
) -> None:
    t0 = await counted_ten_then_sold_two(admin, operator)
    future = iso(datetime.now(UTC) + timedelta(days=1))
    done = await operator(
        COUNT,
        {
            "input": {
                "warehouseCode": "DC-1",
                "countedAt": future,
                "counts": [{"sku": "AS-1", "countedQuantity": 3}],
            }
        },
    )
    assert done["recordCycleCount"]["cycleCount"] is None
    [error] = done["recordCycleCount"]["errors"]
    assert (error["field"], error["code"]) == ("countedAt", "INVALID")

    receipt = {**snapshot(1, 0), "type": "RECEIPT", "quantity": None, "quantityDelta": 1}
    [refused] = await push(operator, {**receipt, "countedAt": iso(t0)})
    assert refused["status"] == "REJECTED"
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("events.0.countedAt", "INVALID")
    ]
    other = iso(t0 - timedelta(minutes=5))
    [refused] = await push(operator, snapshot(1, 3, countedAt=iso(t0), occurredAt=other))
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("events.0.countedAt", "INVALID")
    ]
    assert await on_hand(engine) == 8
