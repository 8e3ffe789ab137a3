"""Concurrency, proven with real concurrent clients over HTTP against the running server:
no oversell, no lost update, one change per idempotency key, one winner per version."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from itertools import pairwise
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db.tables import BUCKETS
from support import factories
from support.client import Client, clients, payload_of
from support.factories import ADJUST

CLIENTS = 50
STEPS = 4  # requests per client, one after another
WAREHOUSES = ("DC-1", "DC-2", "DC-3")
SKUS = ("HOT-1", "HOT-2")
START = 12  # units of each product at each warehouse

TRANSFER = """
mutation($input: TransferInventoryInput!) {
  transferInventory(input: $input) {
    fromInventoryLevel { quantity version }
    toInventoryLevel { quantity version }
    movements { id quantity }
    errors { field message code available requested currentVersion }
  }
}"""
SET_LEVEL = """
mutation($input: SetInventoryLevelInput!) {
  setInventoryLevel(input: $input) {
    inventoryLevel { quantity version }
    movement { id }
    errors { field message code currentVersion }
  }
}"""

Key = tuple[str, str]  # (sku, warehouse code)


def plan(rng: random.Random) -> dict[str, Any]:
    """One random request: an adjustment either way, or a transfer between two warehouses."""
    sku = rng.choice(SKUS)
    if rng.random() < 0.5:
        amount = rng.choice([-7, -5, -3, -2, -1, 1, 2, 4])
        return {"kind": "adjust", "sku": sku, "code": rng.choice(WAREHOUSES), "amount": amount}
    source, target = rng.sample(WAREHOUSES, 2)
    return {
        "kind": "transfer",
        "sku": sku,
        "from": source,
        "to": target,
        "amount": rng.randint(1, 6),
    }


async def run(client: Client, step: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    if step["kind"] == "adjust":
        variables = {
            "input": {
                "sku": step["sku"],
                "warehouseCode": step["code"],
                "adjustment": step["amount"],
                "reason": "SALE" if step["amount"] < 0 else "RECEIPT",
            }
        }
        return step, await payload_of(client, "adjustInventory", ADJUST, variables)
    variables = {
        "input": {
            "sku": step["sku"],
            "fromWarehouseCode": step["from"],
            "toWarehouseCode": step["to"],
            "quantity": step["amount"],
        }
    }
    return step, await payload_of(client, "transferInventory", TRANSFER, variables)


async def session(client: Client, steps: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Any]]:
    return [await run(client, step) for step in steps]


async def levels(engine: AsyncEngine) -> dict[Key, dict[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT p.sku, w.code, l.* FROM inventory_levels l"
                " JOIN products p ON p.id = l.product_id JOIN warehouses w ON w.id = l.warehouse_id"
            )
        )
        return {(row.sku, row.code): dict(row._mapping) for row in rows}


async def ledger(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM inventory_movements ORDER BY id"))
        return [dict(row._mapping) for row in rows]


async def assert_ledger_explains_levels(engine: AsyncEngine) -> None:
    """Each bucket of each level is the sum of its ledger deltas, and each level's rows chain:
    every row starts where the one before it ended (no update was lost between them)."""
    by_level: dict[int, list[dict[str, Any]]] = {}
    for row in await ledger(engine):
        by_level.setdefault(row["level_id"], []).append(row)
    for level in (await levels(engine)).values():
        rows = by_level.get(level["id"], [])
        for bucket in BUCKETS:
            assert level[bucket] == sum(row[f"d_{bucket}"] for row in rows), (level, bucket)
            assert level[bucket] >= 0, (level, bucket)
        for previous, row in pairwise(rows):
            for bucket in BUCKETS:
                assert row[bucket] - row[f"d_{bucket}"] == previous[bucket], (previous, row)


async def test_fifty_clients_adjusting_and_transferring_the_same_levels(
    admin: Client, operator: Client, base_url: str, engine: AsyncEngine
) -> None:
    for sku in SKUS:
        await factories.stocked(admin, sku, dict.fromkeys(WAREHOUSES, START))
    start = {key: level["on_hand"] for key, level in (await levels(engine)).items()}
    assert len(start) == len(SKUS) * len(WAREHOUSES)
    movements_before = len(await ledger(engine))

    rng = random.Random(20260501)
    plans = [[plan(rng) for _ in range(STEPS)] for _ in range(CLIENTS)]
    async with clients(base_url, operator.token or "", CLIENTS) as pool:
        results = await asyncio.gather(
            *(session(client, steps) for client, steps in zip(pool, plans, strict=True))
        )

    expected = Counter(start)
    outcomes: Counter[str] = Counter()
    written = 0
    for step, payload in (outcome for steps in results for outcome in steps):
        if payload["errors"]:
            [error] = payload["errors"]
            assert error["code"] == "INSUFFICIENT_STOCK", error
            assert 0 <= error["available"] < error["requested"], error
            outcomes["refused"] += 1
            continue
        outcomes["applied"] += 1
        if step["kind"] == "adjust":
            expected[(step["sku"], step["code"])] += step["amount"]
            assert payload["movement"]["quantity"] == step["amount"]
            written += 1
        else:
            expected[(step["sku"], step["from"])] -= step["amount"]
            expected[(step["sku"], step["to"])] += step["amount"]
            assert sorted(m["quantity"] for m in payload["movements"]) == [
                -step["amount"],
                step["amount"],
            ]
            written += 2
    # The mix must really contend: both outcomes happen.
    assert outcomes["applied"] >= CLIENTS, outcomes
    assert outcomes["refused"] >= 5, outcomes

    final = {key: level["on_hand"] for key, level in (await levels(engine)).items()}
    assert final == dict(expected)
    assert all(quantity >= 0 for quantity in final.values()), final
    assert len(await ledger(engine)) - movements_before == written
    await assert_ledger_explains_levels(engine)


async def test_one_idempotency_key_sent_twenty_times_at_once_makes_one_movement(
    admin: Client, operator: Client, base_url: str, engine: AsyncEngine
) -> None:
    ids = await factories.stocked(admin, "IDEM-1", {"DC-1": 50, "DC-2": 0})
    adjust = {
        "productId": ids["product"],
        "warehouseId": ids["DC-1"],
        "adjustment": -3,
        "reason": "SALE",
        "idempotencyKey": "till-7-ticket-1",
    }
    transfer = {
        "sku": "IDEM-1",
        "fromWarehouseCode": "DC-1",
        "toWarehouseCode": "DC-2",
        "quantity": 5,
        "idempotencyKey": "move-1",
    }
    movements_before = len(await ledger(engine))
    async with clients(base_url, operator.token or "", 20) as pool:
        adjusted = await asyncio.gather(
            *(payload_of(c, "adjustInventory", ADJUST, {"input": adjust}) for c in pool)
        )
        transferred = await asyncio.gather(
            *(payload_of(c, "transferInventory", TRANSFER, {"input": transfer}) for c in pool)
        )

    for payloads in (adjusted, transferred):
        assert payloads[0]["errors"] == [], payloads[0]
        assert all(json.dumps(p) == json.dumps(payloads[0]) for p in payloads), payloads
    assert adjusted[0]["inventoryLevel"]["quantity"] == 47
    assert transferred[0]["fromInventoryLevel"]["quantity"] == 42
    assert transferred[0]["toInventoryLevel"]["quantity"] == 5

    written = (await ledger(engine))[movements_before:]
    assert sorted(row["d_on_hand"] for row in written) == [-5, -3, 5]
    final = await levels(engine)
    assert final[("IDEM-1", "DC-1")]["on_hand"] == 42
    assert final[("IDEM-1", "DC-2")]["on_hand"] == 5
    await assert_ledger_explains_levels(engine)


async def test_ten_counts_at_one_expected_version_only_one_wins(
    admin: Client, operator: Client, base_url: str, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "COUNT-1", {"DC-1": 30})
    version = (await levels(engine))[("COUNT-1", "DC-1")]["version"]
    movements_before = len(await ledger(engine))

    def count(quantity: int) -> dict[str, Any]:
        return {
            "input": {
                "sku": "COUNT-1",
                "warehouseCode": "DC-1",
                "quantity": quantity,
                "expectedVersion": version,
                "reason": "CYCLE_COUNT",
            }
        }

    quantities = [100 + i for i in range(10)]
    async with clients(base_url, operator.token or "", 10) as pool:
        payloads = await asyncio.gather(
            *(
                payload_of(c, "setInventoryLevel", SET_LEVEL, count(q))
                for c, q in zip(pool, quantities, strict=True)
            )
        )

    winners = [(q, p) for q, p in zip(quantities, payloads, strict=True) if not p["errors"]]
    assert len(winners) == 1, payloads
    [(quantity, won)] = winners
    assert won["inventoryLevel"]["quantity"] == quantity
    new_version = won["inventoryLevel"]["version"]
    assert new_version > version
    for payload in payloads:
        if payload is won:
            continue
        assert payload["inventoryLevel"] is None
        assert [(e["code"], e["currentVersion"]) for e in payload["errors"]] == [
            ("VERSION_CONFLICT", new_version)
        ], payload

    final = (await levels(engine))[("COUNT-1", "DC-1")]
    assert (final["on_hand"], final["version"]) == (quantity, new_version)
    assert len(await ledger(engine)) - movements_before == 1
    await assert_ledger_explains_levels(engine)
