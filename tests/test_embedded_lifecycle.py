"""The embedded PostgreSQL stops when the last onhand process using it exits, however it
was stopped: a `kill` (SIGTERM), Ctrl-C (SIGINT), a closed terminal (SIGHUP), or a user that
was killed outright and could not say it left."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.embedded import gone_within, postmaster_pid, running
from support.processes import ONHAND, environment, start_serving, stopping

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated embedded data directory with no server running on it."""
    directory = tmp_path_factory.mktemp("embedded-lifecycle")
    migrated = subprocess.run(
        [str(ONHAND), "migrate"],
        env=serve_environment(directory),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert postmaster_pid(directory) is None, "a command that ends leaves no server behind"
    yield directory
    leftover = postmaster_pid(directory)
    if leftover is not None:  # a failed test must not leave a server running
        subprocess.run(["kill", str(leftover)], check=False)


def serve_environment(data_dir: Path) -> dict[str, str]:
    return environment(ONHAND_DATA_DIR=str(data_dir))


def postmaster(data_dir: Path) -> int:
    pid = postmaster_pid(data_dir)
    assert pid is not None, "the embedded PostgreSQL runs while onhand serves"
    return pid


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"]
)
def test_the_server_stops_with_onhand_serve(data_dir: Path, signum: signal.Signals) -> None:
    with stopping(start_serving(serve_environment(data_dir))) as served:
        pid = postmaster(data_dir)
        served.process.send_signal(signum)
        code = served.wait()
    assert code in (0, -signum), served.output.text
    assert "Traceback" not in served.output.text, served.output.text
    assert gone_within(pid, 10), "the embedded PostgreSQL outlived its only user"


def test_the_server_stops_only_when_its_last_user_exits(data_dir: Path) -> None:
    with (
        stopping(start_serving(serve_environment(data_dir))) as first,
        stopping(start_serving(serve_environment(data_dir))) as second,
    ):
        pid = postmaster(data_dir)
        assert postmaster(data_dir) == pid, "both use one server"
        first.stop()
        assert running(pid), "the second user still needs it"
        assert postmaster(data_dir) == pid
        assert second.stop() == -signal.SIGTERM, second.output.text
    assert gone_within(pid, 10), "the embedded PostgreSQL outlived its last user"


def test_a_killed_user_does_not_keep_the_server_running(data_dir: Path) -> None:
    """A process killed outright cannot leave; the next user to leave knows it is gone."""
    with stopping(start_serving(serve_environment(data_dir))) as served:
        pid = postmaster(data_dir)
        served.process.kill()
        served.wait()
    assert running(pid), "nobody stopped it yet"
    listed = subprocess.run(
        [str(ONHAND), "token", "list"],
        env=serve_environment(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert gone_within(pid, 10), "a dead process was counted as a user"
