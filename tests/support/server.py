"""A real uvicorn server for the app, on a free port, in a background thread: tests talk to it
over real HTTP and WebSocket connections, like any client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from onhand.app import create_app
from onhand.config import Settings
from onhand.serving import WEBSOCKET_OPTIONS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(settings: Settings, database_url: str) -> Iterator[str]:
    with serving(create_app(settings, database_url), **WEBSOCKET_OPTIONS) as url:
        yield url


@contextmanager
def serving(app: Any, **options: Any) -> Iterator[str]:
    """Any ASGI app under uvicorn in a background thread (with uvicorn's `options`); yields
    its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
