"""A GraphQL client over HTTP and a graphql-transport-ws subscriber, as integrations use."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import websockets


class ApiError(RuntimeError):
    """A GraphQL error (the request, not the data: mutations answer userErrors as data)."""


class Calls:
    """The calls the clients make: how long each took (real seconds, retries included), and
    how long the oldest still unanswered has waited."""

    def __init__(self) -> None:
        self.timings: list[float] = []
        self._waiting: dict[int, float] = {}
        self._made = 0

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        self._made += 1
        call, started = self._made, time.monotonic()
        self._waiting[call] = started
        try:
            yield
        finally:
            del self._waiting[call]
            self.timings.append(time.monotonic() - started)

    def longest_wait(self) -> float:
        if not self._waiting:
            return 0.0
        return time.monotonic() - min(self._waiting.values())


class Api:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: str,
        calls: Calls | None = None,
    ) -> None:
        self.http = http
        self.calls = calls
        self.url = f"{base_url}/graphql"
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.token = token

    async def __call__(self, document: str, **variables: Any) -> dict[str, Any]:
        if self.calls is None:
            return await self._call(document, variables)
        with self.calls.timed():
            return await self._call(document, variables)

    async def _call(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(5):
            try:
                response = await self.http.post(
                    self.url, json={"query": document, "variables": variables}, headers=self.headers
                )
            except httpx.TransportError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            body = response.json()
            if body.get("errors"):
                codes = [e.get("extensions", {}).get("code") for e in body["errors"]]
                if "UNAVAILABLE" in codes and attempt < 4:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                raise ApiError(json.dumps(body["errors"])[:500])
            return dict(body["data"])
        raise ApiError("onhand stayed unavailable")


@contextlib.asynccontextmanager
async def subscription(
    base_url: str,
    token: str,
    document: str,
    variables: dict[str, Any],
    on_event: Callable[[dict[str, Any]], int],
) -> AsyncIterator[None]:
    """Calls `on_event` with each event's data while the block runs; `on_event` returns the
    event's sequence. A subscription dropped (a subscriber too slow, a closed socket) is made
    again with `after:` the last sequence seen, as the README tells clients to: nothing is
    missed."""
    state = {"after": variables.get("after")}

    def seen(data: dict[str, Any]) -> None:
        state["after"] = on_event(data)

    async def follow() -> None:
        while True:
            try:
                await _listen(base_url, token, document, {**variables, **state}, seen)
            except (ApiError, OSError, websockets.WebSocketException):
                await asyncio.sleep(0.2)

    listener = asyncio.create_task(follow())
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _listen(
    base_url: str,
    token: str,
    document: str,
    variables: dict[str, Any],
    on_event: Callable[[dict[str, Any]], None],
) -> None:
    """One subscription over graphql-transport-ws, until it ends (ApiError) or is cancelled."""
    async with websockets.connect(
        base_url.replace("http://", "ws://") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        max_size=None,
        compression=None,
    ) as socket:
        authorization = {"Authorization": f"Bearer {token}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": authorization}))
        ack = json.loads(await socket.recv())
        if ack.get("type") != "connection_ack":
            raise ApiError(f"the subscription was refused: {ack}")
        payload = {"query": document, "variables": variables}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        async for raw in socket:
            message = json.loads(raw)
            if message["type"] == "next":
                if message["payload"].get("errors"):
                    raise ApiError(json.dumps(message["payload"]["errors"])[:500])
                on_event(message["payload"]["data"])
            elif message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
            elif message["type"] in ("error", "complete"):
                raise ApiError(f"the subscription ended: {message}")
        raise ApiError("the subscription's socket closed")
