"""Request body limits: a GraphQL request (JSON) may carry at most ONHAND_MAX_REQUEST_BYTES,
a multipart upload (a CSV import) at most ONHAND_MAX_UPLOAD_BYTES. Larger ones are answered
413 with a coded error (PAYLOAD_TOO_LARGE, in the media type the client accepts) before the
body is read, when Content-Length says so, or as soon as a streamed body passes the limit,
so an oversized body never sits whole in memory."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onhand.api.media_types import error_response


class _TooLargeError(Exception):
    pass


def too_large(scope: Scope, limit: int) -> JSONResponse:
    return error_response(
        scope,
        {
            "errors": [
                {
                    "message": f"the request body is larger than the {limit:,} bytes allowed",
                    "extensions": {"code": "PAYLOAD_TOO_LARGE", "limit": limit},
                }
            ]
        },
        413,
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, *, request_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.request_bytes = request_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.upload_bytes if multipart else self.request_bytes
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await too_large(scope, limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLargeError
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _TooLargeError:
            if started:
                raise
            await too_large(scope, limit)(scope, receive, send)
