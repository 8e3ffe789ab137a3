"""Background loops are kept running: a loop that fails, returns or is cancelled from within is
logged once, restarted with backoff, logged again when it recovers, and /readyz names a loop
that is not running."""

from __future__ import annotations

import asyncio
import itertools
import logging

import httpx
import pytest

from onhand.config import Settings
from onhand.core.failures import MAX_BACKOFF_SECONDS, Failures
from onhand.services import Services
from onhand.workers import runner
from onhand.workers.supervisor import Healthy, Supervisor
from support.server import running_server
from support.waiting import until


async def test_a_loop_that_dies_is_restarted_and_logged_once_until_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor()
    runs: list[str] = []

    async def dies_three_ways(healthy: Healthy) -> None:
        runs.append("run")
        if len(runs) == 1:
            raise RuntimeError("something nobody expected")
        if len(runs) == 2:
            return  # a loop that ends is dead too
        if len(runs) == 3:
            raise asyncio.CancelledError  # cancelled by something other than its owner
        healthy()
        await asyncio.Event().wait()

    with caplog.at_level(logging.WARNING, logger="onhand.workers.supervisor"):
        async with supervisor.supervise({"fragile": dies_three_ways}):
            await until(lambda: len(runs) == 4, "the loop ran a fourth time")
            assert supervisor.not_running() == []
        assert supervisor.not_running() == [], "a stopped loop is no longer supervised"
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert (
        "background loop fragile failed (RuntimeError: something nobody expected)" in (messages[0])
    )
    assert caplog.records[0].exc_info is not None, "the first failure comes with its traceback"
    assert "background loop fragile recovered after 3 failures" in messages[1]


def test_the_wait_doubles_up_to_a_cap_and_only_the_first_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = Failures("hopeless")
    with caplog.at_level(logging.DEBUG, logger="onhand.workers.supervisor"):
        waits = [failures.failed(ConnectionRefusedError("down")) for _ in range(12)]
    assert waits[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert waits[-3:] == [MAX_BACKOFF_SECONDS] * 3
    assert waits == sorted(waits)
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.ERROR] + [logging.DEBUG] * 11


async def test_a_loop_that_keeps_failing_is_not_running_and_waits_longer_each_time() -> None:
    supervisor = Supervisor()
    started: list[float] = []

    async def never_works(healthy: Healthy) -> None:
        started.append(asyncio.get_running_loop().time())
        raise ConnectionRefusedError("the database is down")

    async with supervisor.supervise({"hopeless": never_works}):
        await until(lambda: len(started) >= 5, "the loop was restarted four times")
        assert supervisor.not_running() == ["hopeless"]
    waits = [later - earlier for earlier, later in itertools.pairwise(started)]
    # A sleep may overrun on a busy machine, but never end early.
    assert all(wait >= 0.1 * 2**n * 0.95 for n, wait in enumerate(waits)), waits


async def test_a_loop_that_swallows_its_cancellation_is_still_stopped() -> None:
    supervisor = Supervisor()
    swallowed: list[bool] = []

    async def stubborn(healthy: Healthy) -> None:
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)  # as asyncio.wait_for may do on Python 3.11

    async with asyncio.timeout(10):
        async with supervisor.supervise({"stubborn": stubborn}):
            await asyncio.sleep(0)
    assert swallowed == [True]


async def test_two_loops_of_one_name_are_refused() -> None:
    supervisor = Supervisor()

    async def idle(healthy: Healthy) -> None:
        await asyncio.Event().wait()

    async with supervisor.supervise({"only-one": idle}):
        with pytest.raises(ValueError, match="only-one"):
            async with supervisor.supervise({"only-one": idle}):
                pass


async def test_readyz_names_a_loop_that_is_not_running_until_it_runs_again(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {"now": True}
    steps: list[str] = []

    async def step(services: Services) -> float | None:
        steps.append("step")
        if broken["now"]:
            raise KeyError("a bug in one step")
        return None

    loop = runner.Loop("test-fragile", step, lambda settings: 0.05)
    monkeypatch.setattr(runner, "LOOPS", [*runner.LOOPS, loop])
    with running_server(settings, database_url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            answers: list[httpx.Response] = []

            async def reported() -> None:
                answers.append(await http.get("/readyz"))

            while not answers or answers[-1].status_code == 200:
                await asyncio.wait_for(reported(), 10)
                assert len(answers) < 500, "readyz never named the failing loop"
            assert answers[-1].status_code == 503
            assert answers[-1].json() == {
                "status": "unavailable",
                "loopsNotRunning": ["test-fragile"],
            }
            failures = len(steps)
            assert failures >= 1

            broken["now"] = False
            await until(lambda: len(steps) > failures + 2, "the loop ran again")
            assert (await http.get("/readyz")).json() == {"status": "ready"}
