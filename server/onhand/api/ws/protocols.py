"""The two GraphQL-over-WebSocket protocols clients speak, reduced to what differs between
them: message type names. Everything else (one execution fanned out to many sockets) is
shared; see connection.py and fanout.py."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str
    subscribe: str  # client starts an operation
    stop: str  # client stops one
    next: str  # server sends a result
    error: str
    keep_alive: str | None  # server heartbeat message, if the protocol has one

    def next_message(self, operation_id: str, payload_json: str) -> str:
        """A result message around an already-encoded payload (encoded once per event)."""
        return f'{{"id":{json.dumps(operation_id)},"type":"{self.next}","payload":{payload_json}}}'


TRANSPORT_WS = Protocol(
    name="graphql-transport-ws",
    subscribe="subscribe",
    stop="complete",
    next="next",
    error="error",
    keep_alive=None,
)
# The older subscriptions-transport-ws protocol, still spoken by many Apollo clients.
LEGACY_WS = Protocol(
    name="graphql-ws",
    subscribe="start",
    stop="stop",
    next="data",
    error="error",
    keep_alive="ka",
)
PROTOCOLS = {p.name: p for p in (TRANSPORT_WS, LEGACY_WS)}

# Close codes of graphql-transport-ws (the legacy protocol uses them too, here).
BAD_REQUEST = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
INIT_TIMEOUT = 4408
DUPLICATE_OPERATION = 4409
TOO_MANY_INITS = 4429
# Ours: the client does not read fast enough and its messages piled up.
TOO_SLOW = 4413
