"""A server process killed outright (SIGKILL) in the middle of its work: a large import, a burst
of reservations, a webhook delivery to a slow receiver. Once a new server runs on the same
database nothing is half-applied (the ledger explains every level, reconcileInventory finds
nothing), nothing answered as done is lost, the import is reported FAILED and the webhook is
delivered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db.engine import create_engine
from support import factories
from support.client import Client
from support.database import published
from support.faults import Writers, missing, nothing_half_applied, succeeded_since
from support.imports import counts, import_csv, job, stock
from support.processes import Served, onhand_process
from support.receiver import Receiver
from support.server import serving
from support.waiting import until
from support.webhooks import webhook

pytestmark = pytest.mark.slow

HEADER = "SKU,WarehouseCode,Quantity"
IMPORT_ROWS = 60_000


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """An engine on the test's database and an ADMIN token."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            token = (await create_token(conn, "crash", Role.ADMIN)).secret
        yield engine, token
    finally:
        await engine.dispose()


def kill(served: Served) -> None:
    served.process.kill()
    served.wait()


async def import_job_row(engine: AsyncEngine) -> dict[str, object] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT id, phase, rows_done FROM import_jobs ORDER BY id DESC LIMIT 1")
            )
        ).first()
    return dict(row._mapping) if row else None


async def test_a_server_killed_during_an_import_applies_none_of_it(fresh_database: str) -> None:
    async with database(fresh_database) as (engine, token):
        with onhand_process(fresh_database) as first:
            async with httpx.AsyncClient(base_url=first.url, timeout=120) as http:
                admin = Client(http, token)
                await factories.stocked(admin, "OLD-1", {"DC-1": 10})
                before, levels = await counts(engine), await stock(engine)
                rows = "".join(f"BIG-{i:06d},DC-1,{1 + i % 9}\n" for i in range(IMPORT_ROWS))
                started = await import_csv(
                    admin,
                    f"{HEADER}\nOLD-1,DC-1,99\n{rows}",
                    createMissingProducts=True,
                    background=True,
                )
                job_id = started["job"]["id"]

                async def applying() -> bool:
                    row = await import_job_row(engine)
                    assert row is not None
                    assert row["phase"] != "FINISHED", "the import ended before it was killed"
                    return row["phase"] == "APPLYING" and 0 < int(row["rows_done"]) < IMPORT_ROWS

                await until(applying, "the import was half-way through", seconds=60)
                kill(first)

        with onhand_process(fresh_database) as second:
            async with httpx.AsyncClient(base_url=second.url, timeout=60) as http:
                admin = Client(http, token)
                state = await job(admin, job_id)
                assert state["status"] == "FAILED", state
                assert "stopped before it finished" in state["message"]
                assert await counts(engine) == before
                assert await stock(engine) == levels
                await nothing_half_applied(engine, admin)


async def test_a_server_killed_during_a_reservation_burst_loses_no_answered_one(
    fresh_database: str,
) -> None:
    async with database(fresh_database) as (engine, token):
        skus = ["BURST-1", "BURST-2", "BURST-3"]
        with onhand_process(fresh_database) as first:
            async with httpx.AsyncClient(base_url=first.url, timeout=60) as http:
                for sku in skus:
                    await factories.stocked(Client(http, token), sku, {"DC-1": 100_000})
            writers = Writers(
                first.url, token, skus, count=8, kinds=("reserve",), reservation_type="CART"
            )
            writing = asyncio.create_task(writers.run())
            try:
                await succeeded_since(writers, 0, 20, seconds=60)
                kill(first)  # with requests in flight: in batches, in transactions
            finally:
                writers.stop.set()
                await writing
        cut = [a for a in writers.answers if a.status is None]
        assert cut, "some requests were in flight when the server died"

        with onhand_process(fresh_database) as second:
            async with httpx.AsyncClient(base_url=second.url, timeout=60) as http:
                admin = Client(http, token)
                answered = writers.succeeded("reserve")
                assert await missing(engine, "reservations", answered) == set()
                held = await missing(engine, "inventory_movements", answered, "reservation_id")
                assert held == set(), "each reservation answered has its ledger row"
                async with engine.connect() as conn:
                    active = {
                        row.id
                        for row in await conn.execute(
                            text("SELECT id FROM reservations WHERE status = 'ACTIVE'")
                        )
                    }
                # Those answered are held; any others committed just before the answer was
                # lost are held whole too (each with its ledger row: nothing_half_applied).
                assert answered <= active
                await nothing_half_applied(engine, admin)
                await published(engine, seconds=30)  # the new server publishes what was left


async def test_a_server_killed_during_a_webhook_delivery_delivers_it_after_a_restart(
    fresh_database: str,
) -> None:
    receiver = Receiver(delay=1.0)  # slow: the server dies while it waits for the answer
    # The delivery's lease: its time limit (2 s) and 5 s to record the outcome.
    env = {"ONHAND_WEBHOOK_TIMEOUT_SECONDS": "2"}
    async with database(fresh_database) as (engine, token):
        with serving(receiver.app()) as hook_url:
            with onhand_process(fresh_database, **env) as first:
                async with httpx.AsyncClient(base_url=first.url, timeout=60) as http:
                    admin = Client(http, token)
                    await webhook(admin, f"{hook_url}/hook", ["INVENTORY_UPDATED"])
                    await factories.stocked(admin, "HOOK-1", {"DC-1": 0})
                    await factories.adjust(admin, "HOOK-1", "DC-1", 5)
                    await until(lambda: receiver.begun, "the delivery was under way")
                    kill(first)
                    killed_at = time.monotonic()
            [delivery] = set(receiver.begun)

            with onhand_process(fresh_database, **env) as second:
                async with httpx.AsyncClient(base_url=second.url, timeout=60) as http:

                    async def delivered() -> bool:
                        async with engine.connect() as conn:
                            status = await conn.execute(
                                text("SELECT status FROM webhook_deliveries WHERE id = :id"),
                                {"id": int(delivery)},
                            )
                            return status.scalar_one() == "SUCCEEDED"

                    await until(delivered, "the delivery succeeded", seconds=30)
                    took = time.monotonic() - killed_at
                    await nothing_half_applied(engine, Client(http, token))
        # At least once: the attempt the dead server made, and the new server's.
        assert receiver.begun.count(delivery) >= 2, receiver.begun
        assert all(r.headers["x-onhand-delivery"] == delivery for r in receiver.received)
        # Within the lease and a little: not the minute it used to be.
        assert took < 25, took
