"""Real `onhand serve` processes for tests that need more than the in-thread server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from support.server import free_port

ONHAND = Path(sys.executable).parent / "onhand"


@contextmanager
def onhand_server(database_url: str, **env: str) -> Iterator[str]:
    """An `onhand serve` subprocess on a free port; yields its base URL once /readyz answers."""
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
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                raise RuntimeError(f"onhand serve exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("onhand serve did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
