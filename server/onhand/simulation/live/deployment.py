"""Where the onhand run plays: a server the simulator starts on a fresh database, or one
already running (`--url`). Tokens are made with `onhand token create`, as an operator would.

The simulator's own server runs `onhand serve` in a process of its own. Its database is a new
one on the PostgreSQL server of ONHAND_DATABASE_URL (created, migrated and dropped afterwards:
the database the URL names is never touched), or, with no ONHAND_DATABASE_URL, the embedded
PostgreSQL in a temporary data directory. That server runs on simulated time
(ONHAND_SIMULATION_SPEED): cart expiries, the sweeper, channel sync intervals, alert windows
and webhook retries run at the simulation's speed. A server given with `--url` must have been
started that way too; /healthz says at what speed it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from onhand.db import migrate
from onhand.db.engine import plain_url

ONHAND = Path(sys.executable).parent / "onhand"


@dataclass
class Deployment:
    url: str
    # The environment `onhand token create` needs to reach the server's database.
    env: dict[str, str]

    def token(self, name: str, role: str, channel: str | None = None) -> str:
        command = [str(ONHAND), "token", "create", "--name", name, "--role", role]
        if channel:
            command += ["--channel", channel]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"onhand token create failed: {done.stdout}{done.stderr}")
        return done.stdout.strip().splitlines()[-1]


# A cart holds at least this long in real seconds, whatever the speed: on a loaded machine a
# request can take a good part of a second, and a buyer's cart must not lapse in transit.
CART_FLOOR_SECONDS = 5.0
CART_MINUTES = 30.0


class SpeedMismatchError(ValueError):
    """The server at --url does not run at the speed asked for."""


def running(url: str) -> Deployment:
    """A server already running at `url`; ONHAND_DATABASE_URL (or ONHAND_DATA_DIR) must name
    its database, for the tokens."""
    return Deployment(url.rstrip("/"), dict(os.environ))


def server_speed(url: str) -> float:
    """The simulation speed the server at `url` runs at (1: real time)."""
    health = httpx.get(f"{url.rstrip('/')}/healthz", timeout=10).json()
    return float(health.get("simulationSpeed", 1))


@contextlib.contextmanager
def own_server(speed: float) -> Iterator[Deployment]:
    server_url = os.environ.get("ONHAND_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        env = {name: value for name, value in os.environ.items() if not name.startswith("ONHAND_")}
        if server_url:
            env["ONHAND_DATABASE_URL"] = stack.enter_context(_fresh_database(server_url))
        else:
            data_dir = tempfile.mkdtemp(prefix="onhand-simulation-")
            stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
            env["ONHAND_DATA_DIR"] = data_dir
        port = _free_port()
        served = {
            **env,
            "ONHAND_HOST": "127.0.0.1",
            "ONHAND_PORT": str(port),
            "ONHAND_LOG_LEVEL": "WARNING",
            # Every schedule of the server on the simulation's clock.
            "ONHAND_SIMULATION_SPEED": str(speed),
            # The day's 30-minute carts (held at least CART_FLOOR_SECONDS of real time), and
            # webhook retries of a simulated minute doubling.
            "ONHAND_CART_RESERVATION_MINUTES": str(
                max(CART_MINUTES, CART_FLOOR_SECONDS * speed / 60)
            ),
            "ONHAND_RETRY_DELAY_SECONDS": "60",
            "ONHAND_RECONCILIATION_INTERVAL_MINUTES": "0",
            # A modest pool: the PostgreSQL server may be shared.
            "ONHAND_DB_POOL_SIZE": "16",
            "ONHAND_DB_MAX_OVERFLOW": "8",
        }
        # Its log goes to a file: a pipe nobody reads would fill up and stop the server.
        log = stack.enter_context(
            tempfile.NamedTemporaryFile("w+", prefix="onhand-simulation-", suffix=".log")
        )
        process = subprocess.Popen(
            [str(ONHAND), "serve"], env=served, stdout=log, stderr=subprocess.STDOUT
        )
        stack.callback(_stop, process)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log.name)
        yield Deployment(url, env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: str, within: float = 180) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = Path(log).read_text()[-2000:]
            raise RuntimeError(f"onhand serve exited with {process.returncode}: {error}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("onhand serve did not become ready")


@contextlib.contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    """A new, migrated database beside the one `server_url` names; dropped afterwards."""
    name = f"onhand_simulation_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(plain_url(server_url)).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(plain_url(server_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
