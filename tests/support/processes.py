"""Real `onhand serve` processes for tests that need more than the in-thread server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.server import free_port

ONHAND = Path(sys.executable).parent / "onhand"


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


def wait_until_ready(process: subprocess.Popen[str], output: Output, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output.join()
            raise AssertionError(f"onhand serve exited with {process.returncode}:\n{output.text}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"onhand serve did not become ready:\n{output.text}")


@dataclass(frozen=True)
class ServerProcess:
    url: str
    output: Output


@contextmanager
def onhand_process(database_url: str, **env: str) -> Iterator[ServerProcess]:
    """An `onhand serve` subprocess on a free port, once /readyz answers; its output (the
    server log) is collected as it runs."""
    port = free_port()
    environment = {
        **os.environ,
        "ONHAND_DATABASE_URL": database_url,
        "ONHAND_PORT": str(port),
        "ONHAND_LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(
        [str(ONHAND), "serve"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, output, url)
        yield ServerProcess(url, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.join()


@contextmanager
def onhand_server(database_url: str, **env: str) -> Iterator[str]:
    """An `onhand serve` subprocess on a free port; yields its base URL once /readyz answers."""
    with onhand_process(database_url, **env) as server:
        yield server.url
