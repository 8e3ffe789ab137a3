"""A private PostgreSQL on a free port, for tests that kill the database (never the shared one).

Debian's binaries when installed, else those pgserver ships. initdb refuses to run as root, so
as root the cluster belongs to the `postgres` user and its commands run as that user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

from onhand.db import migrate
from support.server import free_port

INITDB = ["--auth=trust", "--encoding=utf8", "--no-sync"]
# fsync off: a killed server loses nothing the kernel already has, and the machine itself does
# not crash in these tests. Few connections and little memory: it serves one test.
SETTINGS = ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
SETTINGS += ["-c", "max_connections=60", "-c", "shared_buffers=32MB"]


def binaries() -> Path:
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if installed:
        return installed[-1].parent
    import pgserver  # only where Debian's PostgreSQL is missing

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def owner() -> str | None:
    """The user the cluster runs as: ours, unless we are root."""
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class PrivatePostgres:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if owner() is not None:
            shutil.chown(self.folder, owner())
        subprocess.run(
            [str(binaries() / "initdb"), "-D", str(self.data), "-U", "postgres", *INITDB],
            check=True,
            capture_output=True,
            user=owner(),
        )

    def start(self, within: float = 60) -> None:
        """Start it (after a crash: with crash recovery) and wait until it takes connections."""
        with self.log.open("ab") as log:
            where = ["-D", str(self.data), "-p", str(self.port)]
            sockets = ["-c", f"unix_socket_directories={self.folder}"]
            self.process = subprocess.Popen(
                [str(binaries() / "postgres"), *where, *sockets, *SETTINGS],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=owner(),
                start_new_session=True,  # a Ctrl-C of the tests is not its to hear
            )
        deadline = time.monotonic() + within
        while not self.accepting():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def migrated_database(self, name: str = "onhand") -> str:
        """A new database on it, migrated; its URL. (Blocking: from async code, in a thread.)"""
        asyncio.run(_create_database(self.url(), name))
        migrate.upgrade(self.url(name))
        return self.url(name)

    def accepting(self) -> bool:
        ready = [str(binaries() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(ready, check=False, timeout=10).returncode == 0

    def crash(self) -> None:
        """SIGKILL the postmaster and every backend at once, as the kernel's OOM killer or a
        lost machine would: no shutdown checkpoint, connections cut without a word."""
        if self.process is None:
            return
        postmaster = psutil.Process(self.process.pid)
        everyone = [postmaster, *postmaster.children(recursive=True)]
        for process in everyone:
            with suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(everyone, timeout=10)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.crash()
        self.process = None


async def _create_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster, started; stopped and deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="onhand-private-pg-"))
    server = PrivatePostgres(folder)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
