"""A local HTTP endpoint that records what webhooks send it, and fails when told to."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    status: int
    arrived_at: float = 0.0

    @property
    def body(self) -> dict[str, Any]:
        return dict(json.loads(self.raw))

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def body_list(self) -> list[dict[str, Any]]:
        """The events a POST carried: a batch's array, or the one event."""
        found = json.loads(self.raw)
        return list(found) if isinstance(found, list) else [found]


@dataclass
class Receiver:
    """Answers with `statuses` in turn (then 200 for ever); `delay` seconds before answering."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # The X-Onhand-Delivery of each request as it comes in, before any delay: a sender that
    # dies while waiting for the answer shows here and never in `received`'s outcome.
    begun: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.begun.append(request.headers.get("x-onhand-delivery", ""))
            raw = await request.body()
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.statuses.pop(0) if self.statuses else 200
            self.received.append(Received(dict(request.headers), raw, status, time.monotonic()))
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def succeeded(self) -> list[Received]:
        return [r for r in self.received if r.status < 300]
