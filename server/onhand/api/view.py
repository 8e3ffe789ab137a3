"""The /graphql endpoint: authentication in front of strawberry's ASGI view (HTTP, including
SSE subscriptions) and of onhand's WebSocket handler (api/ws, which shares subscription
executions between sockets).

Every GraphQL request needs `Authorization: Bearer <token>`; without one it is answered 401
before any GraphQL runs. GET /graphql from a browser serves GraphiQL, which sends the token
in its headers. WebSocket clients may instead send the token in the connection_init payload
({"Authorization": "Bearer ..."}), since browsers cannot set WebSocket headers.

Multipart uploads are enabled. They cannot be forged across sites: a browser never attaches
a bearer token on its own, and a request without one is refused.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from prometheus_client import Counter
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL

from onhand.api import graphiql
from onhand.api.context import Context
from onhand.api.extensions import UNAVAILABLE_MESSAGE
from onhand.api.ws.endpoint import WebSocketEndpoint
from onhand.auth.tokens import HOW_TO_AUTHENTICATE
from onhand.db.transactions import database_unavailable
from onhand.services import Services

log = logging.getLogger(__name__)
AUTHENTICATION_FAILURES = Counter(
    "onhand_authentication_failures_total", "Requests refused for a missing or unknown token"
)
UNAVAILABLE = {"code": "UNAVAILABLE"}
UNAUTHENTICATED = {
    "errors": [
        {
            "message": HOW_TO_AUTHENTICATE,
            "extensions": {"code": "UNAUTHENTICATED"},
        }
    ]
}


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: Any, services: Services) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql"
            if services.settings.graphiql and services.settings.expose_schema
            else None,
            multipart_uploads_enabled=True,
            # Subscriptions over HTTP: Server-Sent Events and multipart responses. WebSockets
            # are served by api/ws.
            subscription_protocols=(GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL),
        )
        self.services = services

    @property
    def graphql_ide_html(self) -> str:
        return graphiql.PAGE

    def decode_json(self, data: str | bytes) -> object:
        # Bytes that are no text at all are a malformed body (400), like JSON that does not
        # parse, rather than an error of ours.
        try:
            return super().decode_json(data)
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError("the body is not UTF-8 text", "", 0) from error

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            services=self.services,
            request=request,
            response=response,
            principal=request.scope.get("onhand.principal"),
        )


class AuthenticatedEndpoint:
    """ASGI app for /graphql: authenticates, then hands over to the view."""

    def __init__(
        self, view: GraphQLView, websockets: WebSocketEndpoint, services: Services
    ) -> None:
        self.view = view
        self.websockets = websockets
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = _header(scope, b"authorization")
        if scope["type"] == "http" and not _wants_graphiql(scope):
            try:
                principal = await self.services.authenticator.authenticate(authorization)
            except Exception as error:
                if not database_unavailable(error):
                    raise
                # No token can be checked: say so as a coded GraphQL error, not a bare 500.
                log.warning("database unavailable for authentication: %s", error)
                unavailable = JSONResponse(
                    {"errors": [{"message": UNAVAILABLE_MESSAGE, "extensions": UNAVAILABLE}]},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )
                await unavailable(scope, receive, send)
                return
            if principal is None:
                # Counted and logged, never with what was sent: it may be a real secret
                # with a typo, or one being guessed.
                AUTHENTICATION_FAILURES.inc()
                client = scope.get("client") or ("?", 0)
                log.info(
                    "refused a request from %s: %s token",
                    client[0],
                    "an unknown" if authorization else "no",
                )
                response = JSONResponse(
                    UNAUTHENTICATED, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
            scope["onhand.principal"] = principal
        elif scope["type"] == "websocket":
            await self.websockets(scope, receive, send, authorization)
            return
        await self.view(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _wants_graphiql(scope: Scope) -> bool:
    # Parsed as the view parses it: a raw substring test would let `?%71uery=...` through.
    if scope["method"] != "GET" or "query" in QueryParams(scope.get("query_string", b"")):
        return False
    return "text/html" in (_header(scope, b"accept") or "")
