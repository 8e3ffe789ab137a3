"""A graphql-transport-ws (or legacy graphql-ws) client for tests, over a real WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

# Stock changes of the given SKUs, replayed from `after` when given.
UPDATED = """
subscription($skus: [String!], $after: Long) {
  inventoryUpdated(skus: $skus, after: $after) {
    sequence movementType reason oldQuantity newQuantity newAvailable actor
    product { sku } warehouse { code }
  }
}"""


class Subscriber:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        protocol: str = "graphql-transport-ws",
        in_header: bool = False,
    ):
        """The token goes in connection_init's payload, or with `in_header` in the
        handshake's Authorization header."""
        self.url = base_url.replace("http://", "ws://") + "/graphql"
        self.token = token
        self.protocol = protocol
        self.in_header = in_header
        self.socket: Any = None
        self._ids = 0
        # Results that arrived while waiting for a pong, handed out first by receive().
        self._early: list[dict[str, Any]] = []

    async def __aenter__(self) -> Subscriber:
        authorization = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.socket = await websockets.connect(
            self.url,
            subprotocols=[self.protocol],
            max_size=None,
            compression=None,
            additional_headers=authorization if self.in_header else None,
        )
        payload = {} if self.in_header else authorization
        await self.send({"type": "connection_init", "payload": payload})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.socket.close()

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        if self._early:
            return self._early.pop(0)
        return dict(json.loads(await asyncio.wait_for(self.socket.recv(), seconds)))

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Start a subscription; returns once the server is listening for it."""
        operation_id = await self.start(query, variables)
        await self.ready()
        return operation_id

    async def start(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Send a subscribe (or legacy start) message; returns its id."""
        self._ids += 1
        operation_id = str(self._ids)
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": kind, "payload": payload})
        return operation_id

    async def ready(self) -> None:
        """Messages are handled in order: a pong means every earlier subscribe is live. A
        subscription that answers at once with its current state (importProgress) may do so
        before the pong: such results are kept for receive()."""
        if self.protocol != "graphql-transport-ws":
            return
        await self.send({"type": "ping"})
        arrived: list[dict[str, Any]] = []
        while (message := await self.receive())["type"] != "pong":
            assert message["type"] in ("next", "complete"), f"expected pong, got {message}"
            arrived.append(message)
        self._early.extend(arrived)

    async def next(self, seconds: float = 10) -> dict[str, Any]:
        """The payload of the next result message (fails on anything else)."""
        message = await self.receive(seconds)
        kind = "next" if self.protocol == "graphql-transport-ws" else "data"
        assert message["type"] == kind, message
        return dict(message["payload"])

    async def refused(self, query: str, variables: dict[str, Any] | None = None) -> list[Any]:
        """The errors a subscription is refused with (as an error message, or a result holding
        only errors, then its end)."""
        await self.start(query, variables)
        message = await self.receive()
        if message["type"] == "error":
            return list(message["payload"])
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None, message
        assert (await self.receive())["type"] == "complete"
        return list(message["payload"]["errors"])
