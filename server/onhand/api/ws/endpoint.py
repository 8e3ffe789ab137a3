"""The WebSocket side of /graphql: picks the protocol, authenticates, runs the connection."""

from __future__ import annotations

import strawberry
from starlette.types import Receive, Scope, Send

from onhand.api.ws.connection import Connection
from onhand.api.ws.fanout import Fanout
from onhand.api.ws.protocols import PROTOCOLS
from onhand.api.ws.revocation import RevocationWatch
from onhand.services import Services


class WebSocketEndpoint:
    def __init__(self, schema: strawberry.Schema, services: Services) -> None:
        self.schema = schema
        self.services = services
        self.fanout = Fanout(schema, services.settings.max_query_tokens)
        self.revocations = RevocationWatch(services.authenticator)

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, authorization: str | None
    ) -> None:
        offered = scope.get("subprotocols") or []
        protocol = next((PROTOCOLS[name] for name in offered if name in PROTOCOLS), None)
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        if protocol is None:
            # Refusing the handshake answers HTTP 403: no protocol we speak was offered.
            await send({"type": "websocket.close", "code": 1002})
            return
        principal = (
            await self.services.authenticator.authenticate(authorization) if authorization else None
        )
        await send({"type": "websocket.accept", "subprotocol": protocol.name})
        connection = Connection(
            receive,
            send,
            protocol,
            self.services,
            self.schema,
            self.fanout,
            principal,
            authorization,
            queue_size=self.services.settings.subscriber_buffer_events,
        )
        async with self.revocations.watching(connection):
            await connection.serve()
