"""Shared subscriptions: a subscription document (with its variables) is executed once per
permission scope, however many sockets asked for it, and each result is encoded once and
sent to all of them.

Executing the document for every subscriber on every event is what limits a plain GraphQL
server to a few thousand messages a second; sharing the execution leaves only the sending,
which is cheap. A subscription that replays from `after:` runs on its own (its history is its
own), as does one whose scope differs (a connector sees only its channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import strawberry

from onhand.api.context import Context
from onhand.api.extensions import code_domain_error
from onhand.api.ws.documents import replays

log = logging.getLogger(__name__)
READY_TIMEOUT = 30.0


class Connection(Protocol):
    """What a shared subscription needs of each socket it feeds (ws/connection.py)."""

    def send_next(self, operation_id: str, payload_json: str) -> None: ...

    def finish(self, operation_id: str, errors_json: str | None) -> None: ...


def encode_result(result: Any) -> str:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [code_domain_error(error).formatted for error in result.errors]
    return json.dumps(payload, separators=(",", ":"), default=str)


def encode_errors(errors: list[Any]) -> str:
    formatted = [code_domain_error(e).formatted for e in errors]
    return json.dumps(formatted, separators=(",", ":"), default=str)


@dataclass(eq=False)
class SharedSubscription:
    key: Hashable
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    context: Context
    members: dict[tuple[Connection, str], None] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    async def run(self, schema: strawberry.Schema, registry: Fanout) -> None:
        try:
            result = await schema.subscribe(
                self.query, self.variables, self.context, operation_name=self.operation_name
            )
            if not isinstance(result, AsyncIterator):
                # Refused before it started: a bad document, variables or permission.
                errors = encode_errors(list(getattr(result, "errors", None) or []))
                self._finish_all(errors)
                return
            async with contextlib.aclosing(result):
                async for item in result:
                    payload = encode_result(item)
                    for connection, operation_id in list(self.members):
                        connection.send_next(operation_id, payload)
            self._finish_all(None)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("shared subscription failed")
            self._finish_all(json.dumps([{"message": f"subscription failed: {error}"}]))
        finally:
            self.context.listening()  # never leave a joiner waiting
            registry.forget(self)

    def _finish_all(self, errors_json: str | None) -> None:
        for connection, operation_id in list(self.members):
            connection.finish(operation_id, errors_json)
        self.members.clear()


class Fanout:
    """The shared subscriptions of this process, by document, variables and scope."""

    def __init__(self, schema: strawberry.Schema, max_tokens: int) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        self.shared: dict[Hashable, SharedSubscription] = {}

    async def join(
        self,
        connection: Connection,
        operation_id: str,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> SharedSubscription:
        """Add an operation to the matching shared subscription (starting one if needed) and
        return once that subscription is listening, so no later change can be missed."""
        key = self._key(query, variables, operation_name, context)
        shared = self.shared.get(key)
        if shared is None:
            shared = SharedSubscription(key, query, variables, operation_name, context)
            self.shared[key] = shared
            shared.task = asyncio.create_task(self._run(shared), name="onhand-subscription")
        shared.members[(connection, operation_id)] = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shared.context.listening_event.wait(), READY_TIMEOUT)
        return shared

    async def _run(self, shared: SharedSubscription) -> None:
        await shared.run(self.schema, self)

    def leave(self, shared: SharedSubscription, connection: Connection, operation_id: str) -> None:
        shared.members.pop((connection, operation_id), None)
        if not shared.members and shared.task is not None:
            shared.task.cancel()

    def forget(self, shared: SharedSubscription) -> None:
        if self.shared.get(shared.key) is shared:
            del self.shared[shared.key]

    def _key(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> Hashable:
        if replays(query, variables, self.max_tokens):
            return ("own", uuid.uuid4().hex)  # a replay is this subscriber's alone
        principal = context.principal
        scope = (principal.role, principal.channel_id) if principal else None
        encoded = json.dumps(variables or {}, sort_keys=True, default=str)
        return (query, encoded, operation_name, scope)
