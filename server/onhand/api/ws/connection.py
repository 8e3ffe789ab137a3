"""One WebSocket connection speaking graphql-transport-ws or the legacy graphql-ws protocol.

Messages from the client are handled one at a time, in order; a subscribe returns only once
its subscription is listening, so a client that sends `ping` after `subscribe` and gets `pong`
knows no later change can be missed. Everything sent goes through a bounded queue drained by
one writer: a client that stops reading is closed (TOO_SLOW) once the queue is full, instead of
holding memory or slowing the other subscribers of a shared subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.types import Receive, Send

from onhand.api.context import Context
from onhand.api.cost.extension import charge
from onhand.api.documents import parsed
from onhand.api.validation_cache import validation_errors
from onhand.api.ws import protocols as codes
from onhand.api.ws.documents import operation_type
from onhand.api.ws.fanout import Fanout, SharedSubscription, encode_errors, encode_result
from onhand.api.ws.protocols import Protocol
from onhand.auth.tokens import Principal
from onhand.services import Services

log = logging.getLogger(__name__)
INIT_TIMEOUT = 10.0
KEEP_ALIVE_SECONDS = 15.0


class ConnectionClosedError(Exception):
    """Stop reading: the connection was closed while handling a message."""


class Connection:
    def __init__(
        self,
        receive: Receive,
        send: Send,
        protocol: Protocol,
        services: Services,
        schema: strawberry.Schema,
        fanout: Fanout,
        principal: Principal | None,
        credential: str | None,
        queue_size: int,
    ) -> None:
        self._receive = receive
        self._send = send
        self.protocol = protocol
        self.services = services
        self.schema = schema
        self.fanout = fanout
        self.principal = principal
        # The Authorization the principal came from, checked again on every subscribe and
        # by the revocation watch: a socket outlives the token it was opened with.
        self.credential = credential if principal is not None else None
        self.acknowledged = False
        self.closed = False
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue(queue_size)
        self._shared: dict[str, SharedSubscription] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- the connection's life ---------------------------------------------------------

    async def serve(self) -> None:
        writer = asyncio.create_task(self._write(), name="onhand-ws-writer")
        extras = [asyncio.create_task(self._init_timeout())]
        if self.protocol.keep_alive:
            extras.append(asyncio.create_task(self._keep_alive()))
        try:
            while not self.closed:
                message = await self._receive()
                if message["type"] == "websocket.disconnect" or self.closed:
                    break
                text = message.get("text")
                if text is None:
                    await self.close(codes.BAD_REQUEST, "messages must be text")
                    break
                await self._handle(text)
        except ConnectionClosedError:
            pass
        finally:
            self.closed = True
            for task in extras:
                task.cancel()
            for operation_id in list(self._shared) + list(self._tasks):
                self._stop(operation_id)
            with contextlib.suppress(asyncio.QueueFull):
                self._outgoing.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason[:120]})

    async def close_revoked(self) -> None:
        await self.close(codes.FORBIDDEN, "forbidden: the token was revoked or has expired")

    async def _write(self) -> None:
        while True:
            text = await self._outgoing.get()
            if text is None or self.closed:
                return
            try:
                await self._send({"type": "websocket.send", "text": text})
            except Exception:  # the client went away
                self.closed = True
                return

    def _queue(self, message: dict[str, Any] | str) -> None:
        if self.closed:
            return
        text = message if isinstance(message, str) else json.dumps(message, default=str)
        try:
            self._outgoing.put_nowait(text)
        except asyncio.QueueFull:
            asyncio.get_running_loop().create_task(
                self.close(
                    codes.TOO_SLOW, "too slow: messages piled up; reconnect with after: <last>"
                )
            )

    async def _init_timeout(self) -> None:
        await asyncio.sleep(INIT_TIMEOUT)
        if not self.acknowledged:
            await self.close(codes.INIT_TIMEOUT, "connection initialisation timeout")

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(KEEP_ALIVE_SECONDS)
            if self.acknowledged:
                self._queue({"type": self.protocol.keep_alive})

    # -- messages ------------------------------------------------------------------------

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            await self.close(codes.BAD_REQUEST, "invalid message")
            raise ConnectionClosedError from None
        if kind == "connection_init":
            await self._init(message.get("payload") or {})
        elif kind == "ping":
            self._queue(
                {
                    "type": "pong",
                    **({"payload": message["payload"]} if "payload" in message else {}),
                }
            )
        elif kind == "pong":
            pass
        elif kind == self.protocol.subscribe:
            await self._subscribe(message)
        elif kind == self.protocol.stop:
            self._stop(str(message.get("id")))
        elif kind == "connection_terminate":
            await self.close(1000, "terminated")
            raise ConnectionClosedError
        else:
            await self.close(codes.BAD_REQUEST, f"unknown message type {kind!r}")
            raise ConnectionClosedError

    async def _init(self, payload: dict[str, Any]) -> None:
        if self.acknowledged:
            await self.close(codes.TOO_MANY_INITS, "too many initialisation requests")
            raise ConnectionClosedError
        if self.principal is None and isinstance(payload, dict):
            header = payload.get("Authorization") or payload.get("authorization")
            token = payload.get("authToken") or payload.get("token")
            credential = header or (f"Bearer {token}" if token else None)
            self.principal = await self.services.authenticator.authenticate(credential)
            self.credential = credential
        if self.principal is None:
            await self.close(codes.FORBIDDEN, "unauthenticated: send Authorization in the payload")
            raise ConnectionClosedError
        self.acknowledged = True
        self._queue({"type": "connection_ack"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            await self.close(codes.UNAUTHORIZED, "unauthorized: send connection_init first")
            raise ConnectionClosedError
        if await self.services.authenticator.authenticate(self.credential) is None:
            await self.close_revoked()
            raise ConnectionClosedError
        operation_id = str(message.get("id"))
        if operation_id in self._shared or operation_id in self._tasks:
            await self.close(
                codes.DUPLICATE_OPERATION, f"subscriber for {operation_id} already exists"
            )
            raise ConnectionClosedError
        payload = message.get("payload") or {}
        query = payload.get("query") or ""
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        try:
            kind = operation_type(query, operation_name, self.services.settings.max_query_tokens)
        except GraphQLError as error:
            self._queue(self._error_message(operation_id, encode_errors([error])))
            return
        context = Context(services=self.services, principal=self.principal)
        if kind == "subscription":
            refused = await self._refusal(query, variables, operation_name, context)
            if refused:
                self._queue(self._error_message(operation_id, encode_errors(refused)))
                return
            self._shared[operation_id] = await self.fanout.join(
                self, operation_id, query, variables, operation_name, context
            )
        else:
            self._tasks[operation_id] = asyncio.create_task(
                self._execute(operation_id, query, variables, operation_name, context)
            )

    async def _refusal(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> list[GraphQLError]:
        """Why a subscription may not start: its document is invalid, or its query cost,
        charged once when it starts, is refused (its execution may be shared with other
        subscribers, api/ws/fanout.py, and charges no one again).

        The document is validated first: its cost is planned by walking every fragment in
        every place it is spread, which only the validation's limits keep bounded."""
        document = parsed(query, self.services.settings.max_query_tokens)
        invalid = validation_errors(
            self.schema._schema, query, document, getattr(self.schema, "document_rules", ())
        )
        if invalid:
            return invalid
        rules = getattr(self.schema, "cost_rules", None)
        if rules is None:
            return []
        plan = rules.planner.plan(self.schema._schema, query, document, operation_name)
        _, refused = await charge(rules, context, plan.requested(variables))
        context.cost_charged = True
        return [] if refused is None else [refused]

    async def _execute(
        self,
        operation_id: str,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> None:
        try:
            result = await self.schema.execute(
                query, variables, context, operation_name=operation_name
            )
            self.send_next(operation_id, encode_result(result))
            self.finish(operation_id, None)
        finally:
            self._tasks.pop(operation_id, None)

    def _stop(self, operation_id: str) -> None:
        shared = self._shared.pop(operation_id, None)
        if shared is not None:
            self.fanout.leave(shared, self, operation_id)
        task = self._tasks.pop(operation_id, None)
        if task is not None:
            task.cancel()

    # -- called by shared subscriptions ------------------------------------------------

    def send_next(self, operation_id: str, payload_json: str) -> None:
        self._queue(self.protocol.next_message(operation_id, payload_json))

    def finish(self, operation_id: str, errors_json: str | None) -> None:
        """The operation ended: with errors (an `error` message) or normally (`complete`)."""
        self._shared.pop(operation_id, None)
        if errors_json is not None:
            self._queue(self._error_message(operation_id, errors_json))
        else:
            self._queue({"id": operation_id, "type": "complete"})

    def _error_message(self, operation_id: str, errors_json: str) -> str:
        if self.protocol is codes.LEGACY_WS:
            # The legacy protocol's error payload is one error object.
            first = (json.loads(errors_json) or [{"message": "error"}])[0]
            return json.dumps({"id": operation_id, "type": "error", "payload": first})
        return f'{{"id":{json.dumps(operation_id)},"type":"error","payload":{errors_json}}}'
