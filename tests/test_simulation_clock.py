"""Simulated time (ONHAND_SIMULATION_SPEED): a server explicitly started on a faster clock runs
its schedules that much faster (default cart expiries and the sweeper, channel sync intervals
and their stall deadlines, alert windows, webhook retries) and says so on /healthz; real time
is the default and leaves every schedule alone. `onhand simulate --url` refuses a server that
does not run at the speed asked for."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db.engine import create_engine
from support import database, factories
from support.channels import STATUS, channel, reserve_cart
from support.client import Client
from support.processes import environment
from support.server import running_server
from support.waiting import until

SPEED = 600.0  # 30 minutes in 3 s
ONHAND = Path(sys.executable).parent / "onhand"


def test_real_time_is_the_default_and_leaves_every_schedule_alone() -> None:
    plain = Settings()
    assert plain.simulation_speed == 1
    assert plain.cart_reservation_ttl == timedelta(minutes=30)
    assert plain.transfer_reservation_ttl == timedelta(hours=24)
    assert plain.sweeper_interval_seconds == 5
    assert plain.retry_delay_seconds == 1
    assert plain.webhook_open_seconds == 30
    assert plain.simulated(timedelta(hours=1)) == timedelta(hours=1)


def test_a_simulation_speed_runs_every_schedule_faster() -> None:
    fast = Settings(simulation_speed=SPEED, reconciliation_interval_minutes=60)
    assert fast.cart_reservation_ttl == timedelta(seconds=3)
    assert fast.transfer_reservation_ttl == timedelta(hours=24) / SPEED
    assert fast.sweeper_interval_seconds == 0.1  # a floor: not a busy loop
    assert fast.retry_delay_seconds == pytest.approx(1 / SPEED)
    assert fast.webhook_open_seconds == pytest.approx(30 / SPEED)
    assert fast.reconciliation_interval_minutes == pytest.approx(0.1)
    assert fast.demand_buffer_interval_minutes == pytest.approx(0.1)
    # Alert windows and channel intervals are business time, scaled where they are read.
    assert fast.simulated(timedelta(hours=1)) == timedelta(seconds=6)
    # A schedule that is off stays off.
    off = Settings(simulation_speed=SPEED, reconciliation_interval_minutes=0)
    assert off.reconciliation_interval_minutes == 0


def test_a_speed_below_real_time_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="simulation_speed"):
        Settings(simulation_speed=0.5)


@dataclass
class FastServer:
    url: str
    tokens: dict[Role, str]


async def _tokens(url: str) -> dict[Role, str]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return {
                role: (await create_token(conn, f"clock-{role.lower()}", role)).secret
                for role in (Role.ADMIN, Role.STOREFRONT)
            }
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def fast_server(database_server: str) -> Iterator[FastServer]:
    """A server on simulated time, on a database of its own: the shared test server's loops,
    on real time, must not visit its channels."""
    url = database.create(database_server)
    fast = Settings(
        database_url=url,
        token_cache_seconds=60,
        reconciliation_interval_minutes=0,
        simulation_speed=SPEED,
        db_pool_size=4,
        db_max_overflow=2,
    )
    try:
        issued = asyncio.run(_tokens(url))
        with running_server(fast, url) as served:
            yield FastServer(served, issued)
    finally:
        database.drop(database_server, url)


@pytest_asyncio.fixture
async def fast(fast_server: FastServer) -> AsyncIterator[tuple[Client, Client]]:
    """The fast server's admin and storefront clients."""
    async with httpx.AsyncClient(base_url=fast_server.url, timeout=30) as http:
        tokens = fast_server.tokens
        yield Client(http, tokens[Role.ADMIN]), Client(http, tokens[Role.STOREFRONT])


async def test_the_server_says_it_runs_simulated_time_and_a_real_one_says_nothing(
    fast_server: FastServer, base_url: str
) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{fast_server.url}/healthz")).json() == {
            "status": "ok",
            "simulationSpeed": SPEED,
        }
        assert (await http.get(f"{base_url}/healthz")).json() == {"status": "ok"}


async def test_a_cart_holds_for_thirty_simulated_minutes_and_the_sweeper_releases_it(
    fast: tuple[Client, Client],
) -> None:
    admin, shopper = fast
    await factories.stocked(admin, "CLOCK-1", {"DC-1": 5})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    before = datetime.now().astimezone()
    cart = await reserve_cart(
        shopper,
        referenceId="clock-cart",
        channelCode="WEBSITE",
        lines=[{"sku": "CLOCK-1", "quantity": 4}],
    )
    assert cart["success"], cart
    [held] = cart["reservations"]
    lasts = datetime.fromisoformat(held["expiresAt"]) - before
    assert timedelta(seconds=2) < lasts < timedelta(seconds=4), lasts

    async def released() -> bool:
        found = await shopper(
            "query($id: ID!) { reservation(id: $id) { status } }", {"id": held["id"]}
        )
        return bool(found["reservation"]["status"] == "EXPIRED")

    await until(released, "the sweeper released the cart", seconds=15)
    inventory = await shopper('{ product(sku: "CLOCK-1") { inventory { available } } }')
    assert inventory["product"]["inventory"]["available"] == 5


async def test_a_batch_channel_stalls_after_two_simulated_intervals(
    fast: tuple[Client, Client],
) -> None:
    admin, _ = fast
    await factories.stocked(admin, "CLOCK-2", {"DC-1": 5})
    # 10 simulated minutes: 1 s of real time; silent for two of them, it stalls (on a real
    # clock, after 20 minutes).
    await channel(admin, "MARKET", ["DC-1"], kind="BATCH", syncIntervalMinutes=10)

    async def stalled() -> bool:
        status = await admin(STATUS, {"channelCode": "MARKET"})
        return bool(status["channelSyncStatus"]["stalled"])

    await until(stalled, "the channel stalled after two simulated intervals", seconds=20)


def test_simulate_refuses_a_server_not_running_at_the_speed_asked_for(base_url: str) -> None:
    done = subprocess.run(
        [str(ONHAND), "simulate", "--url", base_url, "--speed", "900", "--hours", "1"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "runs at speed 1" in done.stderr
    assert "ONHAND_SIMULATION_SPEED=900" in done.stderr
