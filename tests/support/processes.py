"""Real `onhand` processes for tests that need more than the in-thread server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.server import free_port

ONHAND = Path(sys.executable).parent / "onhand"


def environment(**env: str) -> dict[str, str]:
    """This process's environment for an `onhand` command, with `env` on top. No
    ONHAND_DATABASE_URL unless `env` gives one (without it, onhand uses the embedded server)."""
    inherited = {name: value for name, value in os.environ.items() if name != "ONHAND_DATABASE_URL"}
    # Small pools: a test may run several processes beside the shared test server, and all of
    # them together must fit in a default PostgreSQL's 100 connections.
    pools = {"ONHAND_DB_POOL_SIZE": "4", "ONHAND_DB_MAX_OVERFLOW": "6"}
    return {**inherited, **pools, "ONHAND_LOG_LEVEL": "WARNING", **env}


class Output:
    """Collects a process's output as it comes, so the pipe never fills up."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> None:
        self._thread.join(timeout=10)


@dataclass
class Served:
    process: subprocess.Popen[str]
    output: Output
    url: str

    def said(self, words: str, timeout: float = 30) -> str:
        """The output so far, once it holds `words`."""
        deadline = time.monotonic() + timeout
        while words not in self.output.text:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"onhand never said {words!r}:\n{self.output.text}")
            time.sleep(0.05)
        return self.output.text

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then its exit status once it has exited."""
        self.process.terminate()
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.output.join()
        return code


def start_serving(env: Mapping[str, str], timeout: float = 90) -> Served:
    """An `onhand serve` process on a free port, once /readyz answers 200 (`env` is its whole
    environment)."""
    port = free_port()
    process = subprocess.Popen(
        [str(ONHAND), "serve"],
        env={**env, "ONHAND_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process, Output(process), f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            served.output.join()
            code = process.returncode
            raise RuntimeError(f"onhand serve exited with {code}:\n{served.output.text}")
        try:
            if httpx.get(f"{served.url}/readyz", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            served.wait()
            raise RuntimeError(f"onhand serve did not become ready:\n{served.output.text}")
        time.sleep(0.1)


@contextmanager
def stopping(served: Served) -> Iterator[Served]:
    """Makes sure the process is gone when the block ends (SIGTERM, then SIGKILL)."""
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.terminate()
            try:
                served.wait(timeout=15)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.wait()


@contextmanager
def onhand_process(database_url: str, **env: str) -> Iterator[Served]:
    """An `onhand serve` subprocess on a free port, once /readyz answers; its output (the
    server log) is collected as it runs."""
    with stopping(start_serving(environment(ONHAND_DATABASE_URL=database_url, **env))) as served:
        yield served


@contextmanager
def onhand_server(database_url: str, **env: str) -> Iterator[str]:
    """An `onhand serve` subprocess on a free port; yields its base URL once /readyz answers."""
    with onhand_process(database_url, **env) as served:
        yield served.url
