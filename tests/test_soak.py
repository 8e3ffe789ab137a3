"""A minute of `bench/soak.py`: two servers and a worker under every kind of stock operation at
once, from concurrent clients. The soak judges itself; this test holds it to its report and
checks the books again, on its own, in the database the soak leaves behind.

The soak runs on a private PostgreSQL: its three processes keep about 25 connections open, and
on a shared server other users can fill the rest, so that a connection the soak needs would be
refused (correctly: UNAVAILABLE, which fails the soak) for reasons that are not onhand's."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db.engine import create_engine
from support.client import Client
from support.faults import nothing_half_applied
from support.private_postgres import private_postgres
from support.server import running_server

pytestmark = pytest.mark.slow

SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak.py"
KINDS = {
    "reservation", "cart", "commit", "fulfil", "release", "adjustment", "transfer",
    "transfer order", "ship", "receive", "import", "source events", "cycle count",
}  # fmt: skip


def soak(database_url: str, report: Path) -> tuple[str, dict[str, Any]]:
    """What the soak said, and its report (it must have passed)."""
    options = ["--seconds", "60", "--seed", "7", "--database-url", database_url]
    soaked = subprocess.run(
        [sys.executable, str(SOAK), *options, "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    said = soaked.stdout[-6000:] + soaked.stderr[-6000:]
    assert soaked.returncode == 0, said
    return said, json.loads(report.read_text())


async def test_a_minute_of_every_stock_operation_leaves_the_books_balanced(
    tmp_path: Path,
) -> None:
    with private_postgres() as postgres:
        database_url = await asyncio.to_thread(postgres.migrated_database)
        await soak_and_check(database_url, tmp_path / "soak.json")


async def soak_and_check(database_url: str, report: Path) -> None:
    said, summary = await asyncio.to_thread(soak, database_url, report)
    assert summary["passed"], said
    assert summary["unexpected"] == 0, said
    # Every kind ran, and succeeded at least once: the mix is real.
    assert set(summary["per_kind"]) == KINDS
    assert all(outcomes.get("ok", 0) > 0 for outcomes in summary["per_kind"].values()), said
    checks = summary["checks"]
    assert checks["discrepancies"] == checks["negative levels"] == 0, said
    assert checks["unexplained levels"] == 0, said
    assert checks["expired"] > 0, "the worker's sweeper expired carts during the soak"

    # The same, checked here: the ledger explains each level, holds equal the active
    # reservations, nothing is negative, and reconcileInventory agrees.
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            token = (await create_token(conn, "soak-check", Role.ADMIN)).secret
            negative = await conn.execute(
                text(
                    "SELECT count(*) FROM inventory_levels WHERE on_hand < 0 OR reserved < 0"
                    " OR committed < 0 OR incoming < 0"
                    " OR on_hand - reserved - committed - damaged - quarantined - safety_stock < 0"
                )
            )
            assert negative.scalar_one() == 0
        settings = Settings(database_url=database_url, reconciliation_interval_minutes=0)
        with running_server(settings, database_url) as url:
            async with httpx.AsyncClient(base_url=url, timeout=120) as http:
                run = await nothing_half_applied(engine, Client(http, token))
        assert run["levelsChecked"] >= 40 * 3
    finally:
        await engine.dispose()
