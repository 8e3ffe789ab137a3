"""Per-request (or per-WebSocket) context: who is calling, the services, and the dataloaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.types import Info as StrawberryInfo

from onhand.api.errors import forbidden
from onhand.api.loaders import Loaders
from onhand.auth.roles import Permission
from onhand.auth.tokens import Principal
from onhand.config import Settings
from onhand.db.transactions import in_transaction
from onhand.inventory.ledger import ChangeContext, MovementSource
from onhand.services import Services

T = TypeVar("T")
# A request made by a person, not a program: `X-Onhand-Source: MANUAL`.
SOURCE_HEADER = "x-onhand-source"


@dataclass
class Context:
    services: Services
    request: Any = None
    response: Any = None
    principal: Principal | None = None
    connection_params: dict[str, Any] | None = field(default=None)

    # Set when a subscription's feed has started listening (see api/ws): a client's next
    # message is only handled once its subscription can no longer miss an event.
    listening_event: asyncio.Event = field(default_factory=asyncio.Event)

    # True while a query runs (api/extensions.ReadsOnReplica): its reads may go to the
    # replica. A mutation's payload reads what it has just written, on the primary.
    read_only: bool = False

    # Set when this operation's query cost was charged already (a WebSocket subscription is
    # charged once per subscriber, before its execution, which subscribers may share).
    cost_charged: bool = False

    @property
    def read_engine(self) -> AsyncEngine:
        """Where this request reads: the replica for a query when one is configured."""
        if self.read_only and self.services.read_engine is not None:
            return self.services.read_engine
        return self.services.engine

    @cached_property
    def loaders(self) -> Loaders:
        # Per request: a loader caches what it loaded, so it must not outlive the request.
        return Loaders(self.read_engine)

    def reset_loaders(self) -> None:
        self.__dict__.pop("loaders", None)

    def listening(self) -> None:
        self.listening_event.set()

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def require(self, permission: Permission) -> Principal:
        if self.principal is None or not self.principal.can(permission):
            raise forbidden(permission)
        return self.principal

    def change_context(self, source: MovementSource | None = None) -> ChangeContext:
        principal = self.principal
        assert principal is not None
        if source is None:
            # A change through the API is the API's, whoever's token made it; a client says
            # a person made it by hand (GraphiQL does, a dashboard would).
            source = MovementSource.MANUAL if self._by_hand() else MovementSource.API
        return ChangeContext(actor=principal.name, source=source)

    def _by_hand(self) -> bool:
        headers = getattr(self.request, "headers", None)
        said = headers.get(SOURCE_HEADER) if headers is not None else None
        return (said or "").strip().upper() == MovementSource.MANUAL

    async def transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await in_transaction(self.services.engine, work)

    async def grouped(
        self,
        key: Hashable,
        work: Callable[[AsyncConnection], Awaitable[T]],
        exclusive: Hashable | None = None,
    ) -> T:
        """`work` in one transaction, shared with other work on the same `key` arriving at the
        same moment when write coalescing is on (inventory/group_commit.py)."""
        if not self.settings.coalesce_writes:
            return await self.transaction(work)
        return await self.services.group_commit.submit(key, work, exclusive)

    async def read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.read_engine.connect() as conn:
            return await work(conn)


Info = StrawberryInfo[Context, None]
