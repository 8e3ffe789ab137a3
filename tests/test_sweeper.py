"""The expiry sweeper: releases each expired reservation exactly once (also with several
sweepers at once), runs inside the server and alone as `onhand worker`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.config import Settings
from onhand.core.refs import Ref
from onhand.db.engine import create_engine
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    apply_change,
)
from onhand.inventory.reservations.reserving import ReserveLine, ReserveRequest, Terms, reserve
from onhand.inventory.warehouses import create_warehouse
from onhand.services import Services
from onhand.workers import runner
from onhand.workers.sweeper import sweep_all
from support import database, factories
from support.channels import channel, check_invariants, reserve_cart
from support.client import Client, operation
from support.server import running_server
from support.waiting import until

ONHAND = Path(sys.executable).parent / "onhand"


async def carts(admin: Client, storefront: Client, count: int, spare: int = 0) -> None:
    """`count` one-unit reservations on WEBSITE, in carts of up to 100 lines."""
    await factories.stocked(admin, "SKU-1", {"DC-1": count + spare})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    for start in range(0, count, 100):
        lines = [{"sku": "SKU-1", "quantity": 1}] * min(100, count - start)
        made = await reserve_cart(
            storefront, referenceId=f"cart-{start}", channelCode="WEBSITE", lines=lines
        )
        assert made["errors"] == []


async def expire_all(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE reservations SET expires_at = now() - interval '1 second'"
                " WHERE type = 'CART'"
            )
        )


async def expiries(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE n = 1) AS once, count(*) FILTER (WHERE n > 1)"
                " AS more FROM (SELECT reservation_id, count(*) AS n FROM inventory_movements"
                " WHERE type = 'EXPIRED' GROUP BY reservation_id) m"
            )
        )
        return dict(rows.one()._mapping)


async def test_the_sweeper_releases_expired_reservations_through_the_ledger(
    admin: Client, storefront: Client, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await carts(admin, storefront, 3, spare=1)
    order = await storefront(
        operation("CreateReservation"),
        {"input": {"sku": "SKU-1", "quantity": 1, "type": "ORDER", "channelCode": "WEBSITE"}},
    )
    assert order["createReservation"]["errors"] == []
    await expire_all(engine)
    with caplog.at_level(logging.INFO, logger="onhand.workers.sweeper"):
        await sweep_all(engine, batch=2, actor="test-sweeper")

    # A line per batch, with its figures as fields for the JSON log.
    runs = [r for r in caplog.records if getattr(r, "run", None) == "reservation-sweeper"]
    assert sorted(r.released for r in runs) == [1, 2]
    assert all(r.duration_ms > 0 for r in runs)

    statuses = await storefront("{ reservations { nodes { type status heldQuantity } } }")
    assert statuses["reservations"]["nodes"] == [
        *[{"type": "CART", "status": "EXPIRED", "heldQuantity": 0}] * 3,
        {"type": "ORDER", "status": "ACTIVE", "heldQuantity": 1},
    ]
    assert await expiries(engine) == {"once": 3, "more": 0}
    found = await storefront(
        '{ channelInventory(channelCode: "WEBSITE", skus: ["SKU-1"]) '
        "{ availableToSell heldQuantity } }"
    )
    assert found["channelInventory"] == [{"availableToSell": 3, "heldQuantity": 1}]
    async with engine.connect() as conn:
        kinds = (
            (
                await conn.execute(
                    text(
                        "SELECT payload->>'kind' FROM outbox WHERE topic = 'RESERVATION_CHANGED'"
                        " ORDER BY id"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert kinds == ["CREATED"] * 4 + ["EXPIRED"] * 3
    # Released by expiry, a reservation can no longer change.
    first = (await storefront("{ reservations(first: 1) { nodes { id } } }"))["reservations"]
    again = await storefront(operation("ReleaseReservation"), {"id": first["nodes"][0]["id"]})
    assert [e["code"] for e in again["releaseReservation"]["errors"]] == ["INVALID_TRANSITION"]
    # By its reference too: the same code, saying why.
    by_reference = await storefront(
        'mutation { releaseReservation(input: {referenceId: "cart-0"})'
        " { errors { field code message } } }"
    )
    [error] = by_reference["releaseReservation"]["errors"]
    assert (error["field"], error["code"]) == ("referenceId", "INVALID_TRANSITION")
    assert "EXPIRED" in error["message"]
    await check_invariants(engine)


async def test_two_sweepers_at_once_release_each_reservation_exactly_once(
    admin: Client, storefront: Client, engine: AsyncEngine, database_url: str
) -> None:
    await carts(admin, storefront, 400)
    other = create_engine(database_url)
    # Both engines connected before anything is due, so that both sweepers start at once.
    for warm in (engine, other):
        async with warm.connect() as conn:
            await conn.execute(text("SELECT 1"))
    await expire_all(engine)
    try:
        counts = await asyncio.gather(
            sweep_all(engine, batch=10, actor="sweeper-a"),
            sweep_all(other, batch=10, actor="sweeper-b"),
        )
    finally:
        await other.dispose()
    # The shared server's sweeper would join in only were a reservation due by the clock
    # (tests/conftest.py): should it, it holds the rest of the backlog when these two find
    # nothing left to claim, so wait for its commit too.
    assert sum(counts) > 0

    async def all_expired() -> bool:
        return sum((await expiries(engine)).values()) >= 400

    await until(all_expired, "all 400 reservations expired")
    async with engine.connect() as conn:
        by_actor = dict(
            (
                await conn.execute(
                    text(
                        "SELECT actor, count(*) FROM inventory_movements WHERE type = 'EXPIRED'"
                        " GROUP BY actor"
                    )
                )
            ).all()
        )
    assert await expiries(engine) == {"once": 400, "more": 0}
    assert by_actor.get("sweeper-a", 0) == counts[0]
    assert by_actor.get("sweeper-b", 0) == counts[1]
    # Both did part of the work.
    assert counts[0] > 0, counts
    assert counts[1] > 0, counts
    assert sum(by_actor.values()) == 400
    await check_invariants(engine)


@pytest_asyncio.fixture
async def fast_sweeping(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second server on the same database whose sweeper looks every 0.2 s."""
    fast = settings.model_copy(update={"sweeper_interval_seconds": 0.2})
    with running_server(fast, database_url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client


async def test_the_server_releases_a_reservation_soon_after_it_expires(
    admin: Client, storefront: Client, engine: AsyncEngine, fast_sweeping: httpx.AsyncClient
) -> None:
    await carts(admin, storefront, 0)
    await factories.stocked(admin, "SKU-2", {"DC-1": 5})
    expires = datetime.now(UTC) + timedelta(seconds=1)
    made = await storefront(
        operation("CreateReservation"),
        {"input": {"sku": "SKU-2", "quantity": 2, "expiresAt": expires.isoformat()}},
    )
    reservation = made["createReservation"]["reservation"]["id"]
    query = "query($id: ID!) { reservation(id: $id) { status } }"
    deadline = time.monotonic() + 10
    while (await storefront(query, {"id": reservation}))["reservation"]["status"] == "ACTIVE":
        assert time.monotonic() < deadline, "not released within 9 s of expiring"
        await asyncio.sleep(0.1)
    assert datetime.now(UTC) >= expires
    assert (await storefront(query, {"id": reservation}))["reservation"]["status"] == "EXPIRED"
    await check_invariants(engine)


async def test_a_failing_loop_step_is_retried_and_the_loop_goes_on(
    engine: AsyncEngine, settings: Settings
) -> None:
    calls: list[str] = []

    async def flaky(services: Services) -> float | None:
        calls.append("step")
        if len(calls) == 1:
            raise RuntimeError("the database went away for a moment")
        return 0.0 if len(calls) < 5 else None

    loop = runner.Loop("flaky", flaky, lambda _: 0.01)
    services = Services(settings=settings, engine=engine, authenticator=None)  # type: ignore[arg-type]
    async with runner.running(services, [loop]):
        deadline = time.monotonic() + 5
        while len(calls) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    assert len(calls) >= 6
    with pytest.raises(ValueError, match="unknown loops"):
        runner.selected(["nope"])
    assert "reservation-sweeper" in [loop.name for loop in runner.selected()]


@pytest.fixture
def lone_database(database_server: str) -> Iterator[str]:
    """A database no server runs on: whatever expires there, only the worker releases."""
    url = database.create(database_server)
    yield url
    database.drop(database_server, url)


async def test_onhand_worker_runs_the_sweeper_and_the_relay_alone(lone_database: str) -> None:
    engine = create_engine(lone_database)
    context = ChangeContext(actor="test", source=MovementSource.API)
    try:
        async with engine.begin() as conn:
            warehouse = await create_warehouse(conn, {"code": "DC-1", "name": "DC"})
            await conn.execute(text("INSERT INTO products (sku, name) VALUES ('SKU-1', 'x')"))
            await conn.execute(
                text(
                    "INSERT INTO inventory_levels (product_id, warehouse_id)"
                    " SELECT id, :w FROM products"
                ),
                {"w": warehouse.id},
            )
        async with engine.begin() as conn:
            await apply_change(
                conn,
                [Movement(1, warehouse.id, MovementType.RECEIPT, Quantities(on_hand=5))],
                context,
            )
            soon = datetime.now(UTC) + timedelta(seconds=1)
            await reserve(
                conn,
                ReserveRequest(lines=(ReserveLine(Ref(id=1), 2),), expires_at=soon),
                context,
                Terms(),
            )
        worker = await asyncio.create_subprocess_exec(
            str(ONHAND),
            "worker",
            env={
                **os.environ,
                "ONHAND_DATABASE_URL": lone_database,
                "ONHAND_SWEEPER_INTERVAL_SECONDS": "0.2",
                "ONHAND_LOG_LEVEL": "INFO",
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                async with engine.connect() as conn:
                    status = (
                        await conn.execute(text("SELECT status FROM reservations"))
                    ).scalar_one()
                    # The worker runs the outbox relay too: every event gets published.
                    unpublished = (
                        await conn.execute(
                            text("SELECT count(*) FROM outbox WHERE sequence IS NULL")
                        )
                    ).scalar_one()
                if status == "EXPIRED" and unpublished == 0:
                    break
                assert worker.returncode is None, "the worker stopped"
                assert time.monotonic() < deadline, "the worker released nothing"
                await asyncio.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            printed, _ = await asyncio.wait_for(worker.communicate(), 20)
        output = printed.decode()
        assert worker.returncode == 0, output
        assert "reservation-sweeper" in output
        assert "released 1 expired reservations" in output
        async with engine.connect() as conn:
            level = (await conn.execute(text("SELECT reserved FROM inventory_levels"))).one()
        assert level.reserved == 0
    finally:
        await engine.dispose()


def test_onhand_worker_refuses_an_unknown_loop(database_url: str) -> None:
    refused = subprocess.run(
        [str(ONHAND), "worker", "--only", "nope"],
        env={**os.environ, "ONHAND_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "unknown loops" in refused.stderr
