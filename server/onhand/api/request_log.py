"""One log line per HTTP request: its id (the caller's X-Request-Id, or a new one, returned
in the response's X-Request-Id), method, path, status, duration, and for GraphQL the
operation, the token's name and role (never its secret), the outcome and the error codes.

The id is set for everything the request does, so any other line it logs (an unexpected
error's traceback) carries it too (logs.RequestIdFilter)."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onhand.core import request_ids

log = logging.getLogger("onhand.request")

HEADER = b"x-request-id"
# Probes and scrapes, every few seconds: logged only at DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass
class RequestRecord:
    """What the layers below learn about the request, for its log line."""

    operation_type: str | None = None
    operation: str | None = None
    token: str | None = None
    role: str | None = None
    codes: list[str] = field(default_factory=list)


current: ContextVar[RequestRecord | None] = ContextVar("onhand_request_record", default=None)


def record() -> RequestRecord | None:
    """The record of the request being served (None outside a request)."""
    return current.get()


def note_codes(codes: list[str]) -> None:
    """Error codes a request answered with inside its data (a mutation payload's errors)."""
    found = current.get()
    if found is not None:
        found.codes.extend(codes)


class RequestLog:
    """ASGI middleware: the outermost layer, so refusals (401, 413) are logged too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == HEADER), None)
        request_id = request_ids.accept(given.decode("latin-1") if given else None)
        id_token = request_ids.current.set(request_id)
        entry = RequestRecord()
        record_token = current.set(entry)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        except Exception:
            status = 500
            raise
        finally:
            if scope["type"] == "http":
                _log(scope, status, time.perf_counter() - started, entry)
            current.reset(record_token)
            request_ids.current.reset(id_token)


def outcome(status: int, codes: list[str]) -> str:
    if status >= 500 or "UNAVAILABLE" in codes or "INTERNAL" in codes:
        return "failed"
    if status >= 400 or codes:
        return "error"
    return "ok"


def _log(scope: Scope, status: int, seconds: float, entry: RequestRecord) -> None:
    path = scope.get("path", "")
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "method": scope.get("method"),
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "outcome": outcome(status, entry.codes),
    }
    text = f"{fields['method']} {path} {status} {fields['duration_ms']} ms"
    if entry.operation_type:
        fields["operation_type"] = entry.operation_type
        fields["operation"] = entry.operation
        text += f" {entry.operation_type} {entry.operation or '(anonymous)'}"
    if entry.token:
        fields["token"] = entry.token
        fields["role"] = entry.role
        text += f" by {entry.token} ({entry.role})"
    if entry.codes:
        fields["codes"] = sorted(set(entry.codes))
        text += f" [{', '.join(fields['codes'])}]"
    log.log(level, text, extra=fields)
