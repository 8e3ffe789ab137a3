"""The /graphql endpoint: authentication in front of strawberry's ASGI view (HTTP, including
SSE subscriptions) and of onhand's WebSocket handler (api/ws, which shares subscription
executions between sockets).

Every GraphQL request needs `Authorization: Bearer <token>`; without one it is answered 401
before any GraphQL runs. GET /graphql from a browser serves GraphiQL, which sends the token
in its headers. WebSocket clients may instead send the token in the connection_init payload
({"Authorization": "Bearer ..."}), since browsers cannot set WebSocket headers.

Multipart uploads are enabled. They cannot be forged across sites: a browser never attaches
a bearer token on its own, and a request without one is refused.

Responses follow the GraphQL-over-HTTP spec (api/media_types picks the media type). With
application/graphql-response+json, a request refused before its operation ran (a body that
is no GraphQL request, a document that fails to parse or validate, an unknown operation
name, variables that do not fit) is a 400 whose body has no `data`. With application/json,
the legacy type, such documents and variables are answered 200 as before. A mutation sent
with GET is a 405 whatever the media type.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from prometheus_client import Counter
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.graphql import OperationType

from onhand.api import graphiql, media_types
from onhand.api.context import Context
from onhand.api.extensions import UNAVAILABLE_MESSAGE, request_error_code
from onhand.api.prepared import PreparedPath
from onhand.api.refusals import never_ran, refused_status
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
        self.prepared = PreparedPath(self, schema, services.settings.max_query_tokens)

    @property
    def graphql_ide_html(self) -> str:
        return graphiql.PAGE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        response = None
        if scope["method"] == "POST" and self.services.settings.prepared_requests:
            response = await self.prepared.answer(request)
        try:
            if response is None:
                response = await self.run(request)
        except HTTPException as error:
            # strawberry refused the request before any GraphQL ran (it is no GraphQL
            # request, names no operation of its document, ...): a GraphQL response for
            # clients of application/graphql-response+json, plain text (as ever) for others.
            response = refusal(scope, error)
        await response(scope, receive, send)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # create_response, which sees no request, answers in this media type.
        sub_response.media_type = media_types.negotiate(request.headers.get("accept"))
        return sub_response

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        result = await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )
        if (
            sub_response.media_type == media_types.GRAPHQL_RESPONSE_JSON
            and isinstance(result, ExecutionResult)
            and never_ran(result)
        ):
            sub_response.status_code = refused_status(result)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if not never_ran(result):
            return response
        # A document that did not parse never reaches the schema's extensions: code it here.
        answers: list[dict[str, Any]] = list(response.get("errors") or [])  # type: ignore[arg-type]  # formatted errors are dicts
        for error, answered in zip(result.errors or [], answers, strict=False):
            code = request_error_code(error)
            if code and not (answered.get("extensions") or {}).get("code"):
                answered["extensions"] = {**(answered.get("extensions") or {}), "code": code}
            answered["message"] = plain_message(answered.get("message") or "")
        if (
            media_types.negotiate(request.headers.get("accept"))
            == media_types.GRAPHQL_RESPONSE_JSON
        ):
            # No `data` entry says the operation never ran; legacy clients keep their null.
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == media_types.GRAPHQL_RESPONSE_JSON:
            content_type = media_types.CONTENT_TYPES[media_types.GRAPHQL_RESPONSE_JSON]
            response.headers["content-type"] = content_type
        return response

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


# graphql-core's words for its own limits, said in the client's terms.
_TOO_MANY_TOKENS = re.compile(r"Syntax Error: Document contains more than (\d+) tokens\..*")
_TOO_MANY_ERRORS = "Too many validation errors, error limit reached. Validation aborted."


def plain_message(message: str) -> str:
    if found := _TOO_MANY_TOKENS.fullmatch(message):
        return (
            f"the document is too long: more than {found.group(1)} tokens"
            " (ONHAND_MAX_QUERY_TOKENS); split it, or use variables and fragments"
        )
    if message == _TOO_MANY_ERRORS:
        return "the document has too many errors; the first ones are listed above"
    return message


def refusal(scope: Scope, error: HTTPException) -> Response:
    status_code, headers = error.status_code, {}
    cause = error.__cause__
    if (
        scope["method"] == "GET"
        and isinstance(cause, InvalidOperationTypeError)
        and cause.operation_type == OperationType.MUTATION
    ):
        # The spec: a mutation over GET is 405 Method Not Allowed; it may be POSTed.
        status_code, headers = 405, {"Allow": "POST"}
    if media_types.for_scope(scope) == media_types.GRAPHQL_RESPONSE_JSON:
        body = {"errors": [{"message": error.reason, "extensions": {"code": "BAD_REQUEST"}}]}
        return media_types.error_response(scope, body, status_code, headers)
    return PlainTextResponse(error.reason, status_code, headers)


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
                unavailable = media_types.error_response(
                    scope,
                    {"errors": [{"message": UNAVAILABLE_MESSAGE, "extensions": UNAVAILABLE}]},
                    503,
                    {"Retry-After": "1"},
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
                response = media_types.error_response(
                    scope, UNAUTHENTICATED, 401, {"WWW-Authenticate": "Bearer"}
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
