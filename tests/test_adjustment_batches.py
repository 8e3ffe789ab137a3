"""Adjustments of one level written together by one ledger statement (stock.AdjustTogether):
each answers with its own movement and version, and a batch the statement cannot answer for
every adjustment alone (a refusal, callers that differ) writes nothing, leaving it to the
savepoints."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.refs import Ref
from onhand.inventory.ledger import ChangeContext, MovementSource
from onhand.inventory.stock import Adjust, Adjusted, AdjustTogether
from support import factories
from support.channels import check_invariants, level
from support.client import Client, clients, payload_of
from support.factories import ADJUST
from support.metrics import write_batches

OPERATOR = ChangeContext(actor="operator", source=MovementSource.MANUAL)


def together(sku: str, delta: int, context: ChangeContext = OPERATOR) -> AdjustTogether:
    reason = "RECEIPT" if delta > 0 else "ADJUSTMENT"  # each type goes its own way
    return AdjustTogether(Adjust(Ref(key=sku), Ref(key="DC-1"), delta, reason=reason), context)


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


async def test_a_batch_is_one_change_and_each_adjustment_its_own_version(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "TOGETHER-1", {"DC-1": 10})
    before = (await level(engine, "TOGETHER-1", "DC-1"))["version"]

    outcomes = await AdjustTogether.write_all(
        engine, [together("TOGETHER-1", 1), together("TOGETHER-1", 2), together("TOGETHER-1", 3)]
    )

    assert outcomes is not None
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


async def test_a_batch_with_a_refusal_writes_nothing(admin: Client, engine: AsyncEngine) -> None:
    await factories.stocked(admin, "TOGETHER-2", {"DC-1": 10})

    outcomes = await AdjustTogether.write_all(
        engine, [together("TOGETHER-2", 1), together("TOGETHER-2", -1000)]
    )

    assert outcomes is None  # the savepoints then judge each alone
    assert await movements(engine, "TOGETHER-2") == []
    assert (await level(engine, "TOGETHER-2", "DC-1"))["on_hand"] == 10


async def test_a_batch_of_different_callers_writes_nothing(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "TOGETHER-3", {"DC-1": 10})
    other = ChangeContext(actor="someone else", source=MovementSource.API)

    outcomes = await AdjustTogether.write_all(
        engine, [together("TOGETHER-3", 1), together("TOGETHER-3", 1, other)]
    )

    assert outcomes is None  # a change records one actor: one savepoint each
    assert await movements(engine, "TOGETHER-3") == []


async def test_concurrent_adjustments_of_a_hot_level_are_written_together(
    admin: Client, base_url: str, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    ids = await factories.stocked(admin, "TOGETHER-HOT", {"DC-1": 0})
    before = (await http.get("/metrics")).text
    async with clients(base_url, admin.token or "", 40) as made:
        payloads: list[dict[str, Any]] = await asyncio.gather(
            *(
                payload_of(
                    client,
                    "adjustInventory",
                    ADJUST,
                    {
                        "input": {
                            "productId": ids["product"],
                            "warehouseId": ids["DC-1"],
                            "adjustment": 1,
                            "reason": "RECEIPT",
                        }
                    },
                )
                for client in made
            )
        )
    after = (await http.get("/metrics")).text

    assert all(p["errors"] == [] for p in payloads), payloads
    versions = [p["inventoryLevel"]["version"] for p in payloads]
    assert len(set(versions)) == 40  # each saw its own version of the level
    assert write_batches(after, "savepoints", "at_once") > write_batches(
        before, "savepoints", "at_once"
    )
    assert (await level(engine, "TOGETHER-HOT", "DC-1"))["on_hand"] == 40
    await check_invariants(engine)
