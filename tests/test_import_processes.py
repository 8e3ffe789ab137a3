"""Imports under way: the server keeps serving reservations meanwhile, and an import whose
process is killed half-way leaves nothing of itself behind."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import reserve
from support.client import Client
from support.imports import counts, import_csv, job, ledger_explains_stock, stock
from support.ws import Subscriber

ONHAND = Path(sys.executable).parent / "onhand"
HEADER = "SKU,WarehouseCode,Quantity"


def lines(prefix: str, count: int, quantity: int) -> str:
    return "".join(f"{prefix}-{i:05d},DC-1,{quantity + i % 7}\n" for i in range(count))


async def job_row(engine: AsyncEngine) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT id, status, phase, rows_done, rows_total FROM import_jobs"
                    " ORDER BY id DESC LIMIT 1"
                )
            )
        ).first()
    return dict(row._mapping) if row else None


@pytest.mark.slow
async def test_a_killed_import_leaves_nothing_applied_and_its_job_failed(
    admin: Client, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await factories.warehouse(admin, "DC-1")
    base = await import_csv(admin, HEADER + "\n" + lines("K", 2000, 10), createMissingProducts=True)
    assert base["errors"] == []
    before, levels = await counts(engine), await stock(engine)
    # New quantities for the 2,000 levels and 18,000 new products and levels.
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "\n" + lines("K", 2000, 50) + lines("NEW", 18000, 5))
    process = await asyncio.create_subprocess_exec(
        str(ONHAND),
        "import",
        str(path),
        "--create-missing-products",
        "--slice-rows",
        "500",
        env={**os.environ, "ONHAND_DATABASE_URL": database_url, "ONHAND_LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        # Killed once it has applied some slices in its transaction, before the end.
        deadline = time.monotonic() + 60
        while True:
            row = await job_row(engine)
            if row and row["phase"] == "APPLYING" and 0 < row["rows_done"] < 20000:
                break
            assert process.returncode is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, f"the import never got going: {row}"
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    job_id = base64.b64encode(f"ImportJob:{row['id']}".encode()).decode()
    for _ in range(200):  # the database notices the lost client within a second or so
        state = await job(admin, job_id)
        if state["status"] != "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert state["status"] == "FAILED"
    assert "stopped before it finished" in state["message"]
    assert await counts(engine) == before
    assert await stock(engine) == levels
    await ledger_explains_stock(engine)


@pytest.mark.slow
async def test_reservations_are_served_while_an_import_runs(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await factories.warehouse(admin, "DC-1")
    seeded = await import_csv(
        admin,
        HEADER + "\n" + lines("I", 20000, 100) + lines("R", 20, 100),
        createMissingProducts=True,
    )
    assert seeded["errors"] == []
    # The import counts every I level anew (50 more each); meanwhile carts reserve both
    # I levels (which the import locks while it applies) and R levels (which it does not).
    started = await import_csv(admin, HEADER + "\n" + lines("I", 20000, 150), background=True)
    job_id = started["job"]["id"]

    finished = asyncio.Event()
    outcomes: list[dict[str, Any]] = []
    began = time.monotonic()
    took: dict[str, list[float]] = {"R": [], "I": []}

    async def watch() -> None:
        while (await job(admin, job_id))["status"] == "RUNNING":
            await asyncio.sleep(0.02)
        finished.set()

    async def carts(skus: list[str]) -> int:
        """Reserve round the SKUs until the import ends; how many were answered before."""
        answered = 0
        for number in range(10_000):
            if finished.is_set():
                break
            sku = skus[number % len(skus)]
            asked = time.monotonic()
            outcomes.append(await reserve(storefront, sku=sku, warehouseCode="DC-1", quantity=2))
            if not finished.is_set():
                answered += 1
                took[sku[0]].append(time.monotonic() - asked)
        return answered

    untouched, contended, _ = await asyncio.gather(
        carts([f"R-{i:05d}" for i in range(20)]),
        carts([f"I-{i:05d}" for i in range(0, 20000, 997)]),
        watch(),
    )

    import_seconds = time.monotonic() - began
    assert untouched >= 1
    assert contended >= 1
    # How many get answered depends on the machine's speed; that they do not queue behind the
    # import does not: a reservation of a level the import leaves alone takes a fraction of it.
    assert statistics.median(took["R"]) < import_seconds / 2, (took, import_seconds)
    assert all(o["errors"] == [] for o in outcomes), [o["errors"] for o in outcomes if o["errors"]]
    final = await job(admin, job_id)
    assert (final["status"], final["updated"]) == ("SUCCEEDED", 20000)
    levels = await stock(engine)
    for i in range(20000):
        assert levels[(f"I-{i:05d}", "DC-1")]["on_hand"] == 150 + i % 7
    async with engine.connect() as conn:
        held = dict(
            (
                await conn.execute(
                    text(
                        "SELECT l.id, l.reserved, coalesce(sum(r.quantity) FILTER"
                        " (WHERE r.status = 'ACTIVE'), 0) AS active"
                        " FROM inventory_levels l LEFT JOIN reservations r"
                        " ON r.product_id = l.product_id AND r.warehouse_id = l.warehouse_id"
                        " GROUP BY l.id HAVING l.reserved <> coalesce(sum(r.quantity) FILTER"
                        " (WHERE r.status = 'ACTIVE'), 0)"
                    )
                )
            ).all()
        )
    assert held == {}, "reserved differs from the active reservations"
    assert sum(level["reserved"] for level in levels.values()) == 2 * len(outcomes)
    await ledger_explains_stock(engine)


@pytest.mark.slow
async def test_import_progress_follows_an_import_run_by_another_process(
    admin: Client, engine: AsyncEngine, database_url: str, base_url: str, tmp_path: Path
) -> None:
    await factories.warehouse(admin, "DC-1")
    path = tmp_path / "many.csv"
    path.write_text(HEADER + "\n" + lines("PR", 20000, 5))
    process = await asyncio.create_subprocess_exec(
        str(ONHAND),
        "import",
        str(path),
        "--create-missing-products",
        "--slice-rows",
        "2000",
        env={**os.environ, "ONHAND_DATABASE_URL": database_url, "ONHAND_LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        while (row := await job_row(engine)) is None:
            await asyncio.sleep(0.01)
        job_id = base64.b64encode(f"ImportJob:{row['id']}".encode()).decode()
        seen = []
        async with Subscriber(base_url, admin.token) as subscriber:
            await subscriber.subscribe(
                "subscription($id: ID!) { importProgress(id: $id) { status phase rowsDone } }",
                {"id": job_id},
            )
            while (message := await subscriber.receive(30))["type"] == "next":
                seen.append(message["payload"]["data"]["importProgress"])
        assert message["type"] == "complete", message
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert seen[0]["status"] == "RUNNING"
    assert any(s["phase"] == "APPLYING" and 0 < s["rowsDone"] < 20000 for s in seen), seen
    assert [s["rowsDone"] for s in seen] == sorted(s["rowsDone"] for s in seen)
    assert seen[-1] == {"status": "SUCCEEDED", "phase": "FINISHED", "rowsDone": 20000}
