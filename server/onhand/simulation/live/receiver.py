"""A downstream system's webhook endpoint (a finance system taking every recorded source
event) that fails, answering 503, during its outage: onhand must retry, dead-letter and, once
an operator retries the dead letters, deliver every event all the same."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn

from onhand.simulation.stream import Outage


class Receiver:
    def __init__(self, now: Callable[[], float], outage: Outage) -> None:
        self.now = now
        self.outage = outage
        self.received: set[str] = set()  # X-Onhand-Delivery of each delivery accepted
        self.refused = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = dict(scope["headers"])
        if self.outage.covers(self.now()):
            self.refused += 1
            status = 503
        else:
            self.received.add(headers.get(b"x-onhand-delivery", b"").decode())
            status = 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    """The receiver on a free local port, in this event loop; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/onhand-events"
    finally:
        server.should_exit = True
        await task
