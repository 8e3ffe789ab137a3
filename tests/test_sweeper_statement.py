"""The sweeper's one statement a batch (reservations/expiry.py) writes what the ledger's
write path writes for every expiry: its own ledger movement, running before/after and a new
level version per movement, its INVENTORY_UPDATED and RESERVATION_CHANGED events; and when
the ledger refuses, nothing at all. On a database no server runs on, so that no other
sweeper joins in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.errors import DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.db.engine import create_engine
from onhand.inventory.channels.registry import ChannelRef, create_channel
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    apply_change,
)
from onhand.inventory.reservations.model import ReservationType
from onhand.inventory.reservations.reserving import ReserveLine, ReserveRequest, Terms, reserve
from onhand.inventory.warehouses import create_warehouse
from onhand.workers.sweeper import sweep_all
from support.channels import check_invariants

CONTEXT = ChangeContext(actor="test", source=MovementSource.API)


@pytest_asyncio.fixture
async def lone(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_database)
    yield engine
    await engine.dispose()


async def stock(engine: AsyncEngine) -> dict[str, int]:
    """Two products stocked at DC-1, sold on WEBSITE; P1 carries carts of 1, 2 and 3 units
    and an order of 1, P2 a cart of 4 and a cart of 1 not due."""
    async with engine.begin() as conn:
        warehouse = await create_warehouse(conn, {"code": "DC-1", "name": "DC"})
        website = await create_channel(
            conn, {"code": "WEBSITE", "name": "Web", "safety_buffer_percent": 0},
            [Ref(id=warehouse.id)],
        )  # fmt: skip
        await conn.execute(text("INSERT INTO products (sku, name) VALUES ('P1', 'x'), ('P2', 'y')"))
        await conn.execute(
            text("INSERT INTO inventory_levels (product_id, warehouse_id) VALUES (1, :w), (2, :w)"),
            {"w": warehouse.id},
        )
        await apply_change(
            conn,
            [
                Movement(p, warehouse.id, MovementType.RECEIPT, Quantities(on_hand=20))
                for p in (1, 2)
            ],
            CONTEXT,
        )
    for product, quantity, kind, reference in (
        (1, 1, ReservationType.CART, "due-1"),
        (1, 2, ReservationType.CART, "due-2"),
        (2, 4, ReservationType.CART, "due-3"),
        (1, 3, ReservationType.CART, "due-4"),
        (1, 1, ReservationType.ORDER, "order"),
        (2, 1, ReservationType.CART, "later"),
    ):
        async with engine.begin() as conn:
            await reserve(
                conn,
                ReserveRequest(
                    lines=(ReserveLine(Ref(id=product), quantity, warehouse=Ref(id=warehouse.id)),),
                    type=kind,
                    reference_id=reference,
                    channel=ChannelRef(id=website.id),
                ),
                CONTEXT,
                Terms(),
            )
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE reservations SET expires_at = now() - interval '1 second'"
                " WHERE reference_id LIKE 'due-%'"
            )
        )
    return {"warehouse": warehouse.id, "channel": website.id}


async def rows(engine: AsyncEngine, sql: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(sql))]


async def test_each_expiry_is_its_own_movement_with_its_events(lone: AsyncEngine) -> None:
    await stock(lone)
    assert await sweep_all(lone, batch=10, actor="sweeper") == 4

    statuses = await rows(lone, "SELECT reference_id, status FROM reservations ORDER BY id")
    assert [(r["reference_id"], r["status"]) for r in statuses] == [
        ("due-1", "EXPIRED"),
        ("due-2", "EXPIRED"),
        ("due-3", "EXPIRED"),
        ("due-4", "EXPIRED"),
        ("order", "ACTIVE"),
        ("later", "ACTIVE"),
    ]
    levels = await rows(lone, "SELECT reserved, committed FROM inventory_levels ORDER BY id")
    assert levels == [{"reserved": 0, "committed": 1}, {"reserved": 1, "committed": 0}]
    held = await rows(lone, "SELECT product_id, held FROM channel_inventory ORDER BY product_id")
    assert held == [{"product_id": 1, "held": 1}, {"product_id": 2, "held": 1}]

    # One movement per reservation, in one change; on P1 each starts where the one before
    # it ended, and each makes a version of the level of its own.
    ledger = await rows(
        lone,
        "SELECT id, change_id, product_id, reservation_id, reference_id, d_reserved, reserved,"
        " reason, actor, occurred_at FROM inventory_movements WHERE type = 'EXPIRED'"
        " ORDER BY reservation_id",
    )
    assert [(m["reference_id"], m["d_reserved"], m["reserved"]) for m in ledger] == [
        ("due-1", -1, 5),
        ("due-2", -2, 3),
        ("due-3", -4, 1),
        ("due-4", -3, 0),
    ]
    assert len({m["change_id"] for m in ledger}) == 1
    assert {(m["reason"], m["actor"]) for m in ledger} == {("expired", "sweeper")}

    # Each movement's INVENTORY_UPDATED event says what its ledger row says.
    updates = await rows(
        lone,
        "SELECT payload FROM outbox WHERE topic = 'INVENTORY_UPDATED'"
        " AND payload->>'type' = 'EXPIRED' ORDER BY id",
    )
    by_movement = {u["payload"]["movementId"]: u["payload"] for u in updates}
    assert sorted(by_movement) == sorted(m["id"] for m in ledger)
    versions = []
    for movement in ledger:
        event = by_movement[movement["id"]]
        assert event["changeId"] == movement["change_id"]
        assert event["reservationId"] == movement["reservation_id"]
        assert event["referenceId"] == movement["reference_id"]
        assert (event["actor"], event["source"], event["reason"]) == (
            "sweeper",
            "SYSTEM",
            "expired",
        )
        assert datetime.fromisoformat(event["occurredAt"]) == movement["occurred_at"]
        assert event["after"]["reserved"] == movement["reserved"]
        assert event["before"]["reserved"] == movement["reserved"] - movement["d_reserved"]
        assert event["after"]["available"] - event["before"]["available"] == (
            -movement["d_reserved"]
        )
        versions.append((movement["product_id"], event["version"]))
    p1 = [v for product, v in versions if product == 1]
    assert p1 == list(range(p1[0], p1[0] + 3))

    changes = await rows(
        lone,
        "SELECT payload FROM outbox WHERE topic = 'RESERVATION_CHANGED'"
        " AND payload->>'kind' = 'EXPIRED' ORDER BY id",
    )
    assert sorted(c["payload"]["referenceId"] for c in changes) == [
        "due-1",
        "due-2",
        "due-3",
        "due-4",
    ]
    assert {(c["payload"]["status"], c["payload"]["version"]) for c in changes} == {("EXPIRED", 2)}
    await check_invariants(lone)


async def test_a_batch_the_ledger_refuses_writes_nothing(lone: AsyncEngine) -> None:
    await stock(lone)
    # A level changed outside the ledger no longer holds what its reservations hold: the
    # expiry of due-4 would take its reserved below zero.
    async with lone.begin() as conn:
        await conn.execute(text("UPDATE inventory_levels SET reserved = 5 WHERE product_id = 1"))
    before = await rows(
        lone,
        "SELECT (SELECT count(*) FROM inventory_movements) AS movements,"
        " (SELECT count(*) FROM outbox) AS events,"
        " (SELECT sum(held) FROM channel_inventory) AS held,"
        " (SELECT count(*) FROM reservations WHERE status = 'ACTIVE') AS active",
    )

    with pytest.raises(DomainError) as refused:
        await sweep_all(lone, batch=10)

    assert [p.code for p in refused.value.problems] == [ErrorCode.INSUFFICIENT_STOCK]
    after = await rows(
        lone,
        "SELECT (SELECT count(*) FROM inventory_movements) AS movements,"
        " (SELECT count(*) FROM outbox) AS events,"
        " (SELECT sum(held) FROM channel_inventory) AS held,"
        " (SELECT count(*) FROM reservations WHERE status = 'ACTIVE') AS active",
    )
    assert after == before
    assert before[0]["active"] == 6
