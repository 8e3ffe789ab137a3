"""Adjustments written together by one ledger statement (stock.adjust_together,
inventory/adjustments_together.py): of one level or of many, each answers with its own
movement and version; a caller's statement that refuses any adjustment writes nothing, and
its adjustments are left to be written alone, where each gets its exact answer."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.refs import Ref
from onhand.inventory.ledger import ChangeContext, MovementSource
from onhand.inventory.stock import Adjust, Adjusted, adjust_together
from support import factories
from support.channels import check_invariants, level
from support.client import Client, clients, payload_of
from support.factories import ADJUST
from support.metrics import write_batches

OPERATOR = ChangeContext(actor="operator", source=MovementSource.MANUAL)


def asked(
    sku: str, delta: int, context: ChangeContext = OPERATOR, **values: Any
) -> tuple[Adjust, ChangeContext]:
    reason = "RECEIPT" if delta > 0 else "ADJUSTMENT"  # each type goes its own way
    return Adjust(Ref(key=sku), Ref(key="DC-1"), delta, reason=reason, **values), context


async def movements(engine: AsyncEngine, sku: str) -> list[tuple[int, int]]:
    """(change of on hand, version in the event) of the sku's adjustments, in order."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT m.d_on_hand, (o.payload->>'version')::int FROM inventory_movements m"
                " JOIN products p ON p.id = m.product_id"
                " JOIN outbox o ON (o.payload->>'movementId')::bigint = m.id"
                " WHERE p.sku = :sku AND m.type = 'RECEIPT' ORDER BY m.id"
            ),
            {"sku": sku},
        )
        return [(row[0], row[1]) for row in found]


async def adjust_all(
    admin: Client, base_url: str, asks: list[tuple[dict[str, Any], int]]
) -> list[dict[str, Any]]:
    """Each (ids of a stocked product, delta) adjusted at once, by a client of its own."""
    async with clients(base_url, admin.token or "", len(asks)) as made:
        return list(
            await asyncio.gather(
                *(
                    payload_of(
                        client,
                        "adjustInventory",
                        ADJUST,
                        {
                            "input": {
                                "productId": ids["product"],
                                "warehouseId": ids["DC-1"],
                                "adjustment": delta,
                                "reason": "RECEIPT" if delta > 0 else "ADJUSTMENT",
                            }
                        },
                    )
                    for client, (ids, delta) in zip(made, asks, strict=True)
                )
            )
        )


async def test_a_batch_is_one_change_and_each_adjustment_its_own_version(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "TOGETHER-1", {"DC-1": 10})
    before = (await level(engine, "TOGETHER-1", "DC-1"))["version"]

    outcomes = await adjust_together(
        engine, [asked("TOGETHER-1", 1), asked("TOGETHER-1", 2), asked("TOGETHER-1", 3)]
    )

    assert all(isinstance(o, Adjusted) for o in outcomes)
    answered = [(o.level.on_hand, o.level.version) for o in outcomes if isinstance(o, Adjusted)]
    assert answered == [(11, before + 1), (13, before + 2), (16, before + 3)]
    assert await movements(engine, "TOGETHER-1") == [
        (1, before + 1),
        (2, before + 2),
        (3, before + 3),
    ]
    stocked = await level(engine, "TOGETHER-1", "DC-1")
    assert (stocked["on_hand"], stocked["version"]) == (16, before + 3)
    async with engine.connect() as conn:
        changes = (
            await conn.execute(
                text(
                    "SELECT count(DISTINCT change_id) FROM inventory_movements"
                    " WHERE type = 'RECEIPT'"
                )
            )
        ).scalar_one()
    assert changes == 1
    await check_invariants(engine)


async def test_a_statement_with_a_refusal_writes_nothing_and_leaves_its_adjustments_alone(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "TOGETHER-2", {"DC-1": 10})
    await factories.stocked(admin, "TOGETHER-2B", {"DC-1": 10})

    outcomes = await adjust_together(
        engine,
        [asked("TOGETHER-2", 1), asked("TOGETHER-2B", 1), asked("TOGETHER-2", -1000)],
    )

    assert outcomes == [None, None, None]  # each is then written alone, with its own answer
    assert await movements(engine, "TOGETHER-2") == []
    assert await movements(engine, "TOGETHER-2B") == []
    assert (await level(engine, "TOGETHER-2", "DC-1"))["on_hand"] == 10


async def test_what_one_statement_cannot_write_is_left_alone_and_the_rest_is_written(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "TOGETHER-3", {"DC-1": 10})
    other = ChangeContext(actor="someone else", source=MovementSource.API)
    third = ChangeContext(actor="a third", source=MovementSource.API)

    outcomes = await adjust_together(
        engine,
        [
            asked("TOGETHER-3", 1),
            asked("TOGETHER-3", 2, other),  # another caller: a change of its own
            asked("TOGETHER-3", 3, idempotency_key="key-1"),  # a key to claim: alone
            asked("NO-SUCH-SKU", 1, third),  # unknown: its caller's adjustments go alone
            asked("TOGETHER-3", 0),  # invalid: answered at once
        ],
    )

    written = [o for o in outcomes[:2] if isinstance(o, Adjusted)]
    assert [o.level.on_hand for o in written] == [11, 13]
    assert outcomes[2:4] == [None, None]
    refused = outcomes[4]
    assert refused is not None
    assert not isinstance(refused, Adjusted)
    assert refused.problems[0].field == "adjustment"
    assert await movements(engine, "TOGETHER-3") == [
        (1, written[0].level.version),
        (2, written[1].level.version),
    ]
    async with engine.connect() as conn:
        actors = (
            await conn.execute(
                text(
                    "SELECT actor, count(DISTINCT change_id) FROM inventory_movements m"
                    " JOIN products p ON p.id = m.product_id"
                    " WHERE p.sku = 'TOGETHER-3' AND m.type = 'RECEIPT' GROUP BY actor"
                )
            )
        ).all()
    assert sorted(actors) == [("operator", 1), ("someone else", 1)]


async def test_adjustments_of_many_levels_are_one_change_each_with_its_own_version(
    admin: Client, engine: AsyncEngine
) -> None:
    skus = [f"TOGETHER-MANY-{i}" for i in range(5)]
    for sku in skus:
        await factories.stocked(admin, sku, {"DC-1": 10})

    outcomes = await adjust_together(engine, [asked(sku, i + 1) for i, sku in enumerate(skus)])

    assert [o.level.on_hand for o in outcomes if isinstance(o, Adjusted)] == [11, 12, 13, 14, 15]
    for sku, outcome in zip(skus, outcomes, strict=True):
        assert isinstance(outcome, Adjusted)
        stocked = await level(engine, sku, "DC-1")
        assert (stocked["on_hand"], stocked["version"]) == (
            outcome.level.on_hand,
            outcome.level.version,
        )
    async with engine.connect() as conn:
        changes = (
            await conn.execute(
                text(
                    "SELECT count(DISTINCT change_id) FROM inventory_movements m"
                    " JOIN products p ON p.id = m.product_id"
                    " WHERE p.sku LIKE 'TOGETHER-MANY-%' AND m.type = 'RECEIPT'"
                )
            )
        ).scalar_one()
    assert changes == 1
    await check_invariants(engine)


async def test_concurrent_adjustments_across_levels_are_batched_without_deadlock(
    admin: Client, base_url: str, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    """Many callers' worth of requests adjusting the same few levels in random orders: one
    refused among them gets its own error, every other is written, in batches."""
    skus = [f"ACROSS-{i}" for i in range(6)]
    # Enough stock that no order of the decrements can run out, but for the one too large.
    ids = [await factories.stocked(admin, sku, {"DC-1": 100}) for sku in skus]
    rng = random.Random(7)
    asks = [(rng.randrange(len(skus)), rng.choice([1, 2, -1])) for _ in range(60)]
    asks[30] = (0, -1000)  # more than is there
    before = (await http.get("/metrics")).text
    payloads = await adjust_all(admin, base_url, [(ids[index], delta) for index, delta in asks])
    after = (await http.get("/metrics")).text

    refused = payloads[30]["errors"]
    assert [e["code"] for e in refused] == ["INSUFFICIENT_STOCK"], refused
    assert all(p["errors"] == [] for i, p in enumerate(payloads) if i != 30), payloads
    for index, sku in enumerate(skus):
        expected = 100 + sum(d for i, (at, d) in enumerate(asks) if at == index and i != 30)
        assert (await level(engine, sku, "DC-1"))["on_hand"] == expected
    assert write_batches(after, "adjustments", "at_once") > write_batches(
        before, "adjustments", "at_once"
    )
    await check_invariants(engine)


async def test_concurrent_adjustments_of_a_hot_level_are_written_together(
    admin: Client, base_url: str, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    ids = await factories.stocked(admin, "TOGETHER-HOT", {"DC-1": 0})
    before = (await http.get("/metrics")).text
    payloads = await adjust_all(admin, base_url, [(ids, 1)] * 40)
    after = (await http.get("/metrics")).text

    assert all(p["errors"] == [] for p in payloads), payloads
    versions = [p["inventoryLevel"]["version"] for p in payloads]
    assert len(set(versions)) == 40  # each saw its own version of the level
    assert write_batches(after, "adjustments", "at_once") > write_batches(
        before, "adjustments", "at_once"
    )
    assert (await level(engine, "TOGETHER-HOT", "DC-1"))["on_hand"] == 40
    await check_invariants(engine)
