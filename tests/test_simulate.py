"""`onhand simulate`: the same seed gives the same day; on the small scale onhand oversells
nothing on its live channels, loses no source event and keeps its marketplaces within 0.05%
oversold, while the legacy 4-hourly CSV sync oversells on the same order stream."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onhand.simulation.clock import SimClock
from onhand.simulation.legacy import LegacyRun
from onhand.simulation.stream import build_stream
from onhand.simulation.world import BATCH, REALTIME, SCALES, build_world
from support.processes import environment, onhand_process

ONHAND = Path(sys.executable).parent / "onhand"
KEYS = {
    "orders",
    "oversold_orders",
    "cancellation_rate",
    "accuracy",
    "sync_latency_p50_ms",
    "sync_latency_p99_ms",
    "lost_events",
    "duplicate_events_applied",
}
# The first 10 simulated hours hold the night, the morning's rise and its peak: enough for
# the legacy sync to oversell; at the default speed they play in 40 real seconds. A server
# that falls behind on a loaded machine costs the live channels orders (carts lapse), never
# an oversell.
HOURS, SPEED, SEED = 10, 900, 4


def test_the_same_seed_gives_the_same_order_stream() -> None:
    small = SCALES["small"]
    first = build_stream(build_world(small, 7), 24)
    again = build_stream(build_world(small, 7), 24)
    other = build_stream(build_world(small, 8), 24)
    assert first.fingerprint() == again.fingerprint()
    assert first.orders == again.orders
    assert first.deliveries == again.deliveries
    assert other.fingerprint() != first.fingerprint()
    # A shorter run plays the start of the same day.
    morning = build_stream(build_world(small, 7), 6)
    assert morning.orders == [order for order in first.orders if order.at < 6 * 3600]
    assert 900 < sum(not order.abandoned for order in first.orders) < 1300
    kinds = {delivery.event.type for delivery in first.deliveries}
    assert kinds == {"RECEIPT", "RETURN", "DAMAGE", "ADJUSTMENT", "TRANSFER"}
    assert any(d.duplicate for d in first.deliveries)
    assert any(d.out_of_order for d in first.deliveries)
    assert any(d.late for d in first.deliveries)
    assert sum(order.race is not None for order in first.orders) >= 2 * 4


async def test_the_clock_stands_still_while_it_waits_for_the_server() -> None:
    """What is due while the clock is stopped is played only once it runs again, at the
    simulated moment it was due: a slow server makes the run longer, not the world different."""
    clock = SimClock(speed=600)
    played: list[float] = []

    async def due_at_one_minute() -> None:
        await clock.sleep_until(60)  # 0.1 real seconds away
        played.append(clock.now())

    task = asyncio.create_task(due_at_one_minute())
    clock.stop()
    stopped_at = clock.now()
    await asyncio.sleep(0.3)
    assert not task.done()
    assert clock.now() == stopped_at
    clock.start()
    await asyncio.wait_for(task, 1)
    assert clock.stopped_for >= 0.3
    assert 60 <= played[0] < 90


def test_the_legacy_model_is_deterministic_and_oversells() -> None:
    world = build_world(SCALES["small"], SEED)
    stream = build_stream(world, HOURS)
    figures = LegacyRun(world, stream).run().figures()
    assert figures == LegacyRun(world, stream).run().figures()
    assert figures["oversold_orders"] > 0
    assert figures["accuracy"] < 0.95


@pytest.mark.slow
def test_a_simulated_day_on_the_small_scale(database_server: str, tmp_path: Path) -> None:
    output = tmp_path / "figures.json"
    started = time.monotonic()
    done = subprocess.run(
        [
            str(ONHAND),
            "simulate",
            "--scale",
            "small",
            "--hours",
            str(HOURS),
            "--speed",
            str(SPEED),
            "--seed",
            str(SEED),
            "--json",
            str(output),
        ],
        env=environment(ONHAND_DATABASE_URL=database_server),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"simulated {HOURS} h in {time.monotonic() - started:.1f} s")
    assert "Legacy (4-hourly CSV)" in done.stdout
    assert "Per channel" in done.stdout
    # It says how fast onhand answered, so that a reader can tell whether the server kept up.
    assert "onhand answered" in done.stderr
    figures = json.loads(output.read_text())
    assert set(figures) == {"legacy", "onhand"}
    for run in figures.values():
        assert set(run) == KEYS | {"channels"}
        assert set(run["channels"]) == set(REALTIME + BATCH)
        assert all(set(channel) == KEYS for channel in run["channels"].values())
    legacy, onhand = figures["legacy"], figures["onhand"]
    # The legacy sync sells what is no longer there; onhand never on a live channel.
    assert legacy["oversold_orders"] > 0
    assert onhand["orders"] > 100
    for code in REALTIME:
        assert onhand["channels"][code]["oversold_orders"] == 0, code
        assert onhand["channels"][code]["orders"] > 0, code
    batch_orders = sum(onhand["channels"][code]["orders"] for code in BATCH)
    batch_oversold = sum(onhand["channels"][code]["oversold_orders"] for code in BATCH)
    assert batch_orders > 50
    assert batch_oversold <= 0.0005 * batch_orders
    assert onhand["lost_events"] == 0
    assert onhand["duplicate_events_applied"] == 0
    assert legacy["duplicate_events_applied"] > 0
    assert onhand["cancellation_rate"] < legacy["cancellation_rate"]
    assert onhand["accuracy"] > legacy["accuracy"]
    assert onhand["sync_latency_p50_ms"] < legacy["sync_latency_p50_ms"]


def test_bad_options_are_refused_naming_them_before_anything_starts(tmp_path: Path) -> None:
    for option, value in (
        ("--hours", "0"),
        ("--hours", "25"),
        ("--speed", "fast"),
        ("--scale", "huge"),
    ):
        done = subprocess.run(
            [str(ONHAND), "simulate", option, value, "--json", str(tmp_path / "f.json")],
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, (option, value)
        assert option in done.stderr
        assert not (tmp_path / "f.json").exists()


@pytest.mark.slow
def test_a_running_server_on_simulated_time_plays_the_day_at_its_speed(
    fresh_database: str, tmp_path: Path
) -> None:
    output = tmp_path / "figures.json"
    with onhand_process(fresh_database, ONHAND_SIMULATION_SPEED="900") as served:
        assert "simulated time" in served.said("simulated time")
        done = subprocess.run(
            [str(ONHAND), "simulate", "--url", served.url, "--hours", "2", "--json", str(output)],
            env=environment(ONHAND_DATABASE_URL=fresh_database),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"onhand is serving at {served.url}" in done.stderr
    onhand = json.loads(output.read_text())["onhand"]
    assert set(onhand) == KEYS | {"channels"}
    assert onhand["lost_events"] == 0
    assert onhand["duplicate_events_applied"] == 0
