"""The long-lived parts of a running onhand, built once per process and shared by requests
and workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.authenticator import Authenticator
from onhand.auth.cost_buckets import CostBuckets
from onhand.config import Settings
from onhand.db.engine import create_engine
from onhand.inventory.adjustments_together import AdjustmentsTogether
from onhand.inventory.group_commit import GroupCommit
from onhand.inventory.imports.tasks import ImportTasks
from onhand.inventory.reservations.coalescing import Coalescer
from onhand.inventory.routing.utilization import UtilizationCache
from onhand.workers.alerter import AlerterState
from onhand.workers.supervisor import Supervisor

if TYPE_CHECKING:
    from onhand.events.hub import Hub
    from onhand.events.relay import Relay


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    authenticator: Authenticator
    database_url: str = ""
    # Set by the event stream component when the app starts (workers/event_stream.py).
    hub: Hub | None = None
    relay: Relay | None = None
    # Where queries read (ONHAND_READ_DATABASE_URL, a replica); None: the primary.
    read_engine: AsyncEngine | None = None
    # Keeps this process's background loops running; /readyz asks it which are not.
    supervisor: Supervisor = field(default_factory=Supervisor)
    alerter: AlerterState = field(default_factory=AlerterState)

    @cached_property
    def group_commit(self) -> GroupCommit:
        """Stock adjustments on one level arriving together, written together (each in a
        savepoint of its own)."""
        return GroupCommit(self.engine)

    @cached_property
    def at_once_engine(self) -> AsyncEngine:
        """Connections for a batch written at once (one statement committing on its own),
        running generic plans: planned once per connection, not on every call (db/plans.py)."""
        url = self.engine.url.render_as_string(hide_password=False)
        return create_engine(url, self.settings, generic_plans=True)

    @cached_property
    def adjustments(self) -> AdjustmentsTogether:
        """Stock adjustments of one caller arriving together, of any levels, written
        together."""
        return AdjustmentsTogether(self.at_once_engine)

    @cached_property
    def coalescer(self) -> Coalescer:
        """Reservations of one caller arriving together, written together."""
        return Coalescer(self.engine, self.at_once_engine)

    async def dispose(self) -> None:
        """Close every engine's connections."""
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()
        if "at_once_engine" in self.__dict__:
            await self.at_once_engine.dispose()

    @cached_property
    def cost_buckets(self) -> CostBuckets:
        """Every token's bucket of query cost: in Redis when one is configured."""
        return CostBuckets(self.settings.shared_redis_url, self.settings.broadcast_channel)

    @cached_property
    def import_tasks(self) -> ImportTasks:
        """The imports running in this process."""
        return ImportTasks(self.engine)

    @cached_property
    def utilization(self) -> UtilizationCache:
        """How busy each warehouse is, for routing, refreshed every few seconds."""
        return UtilizationCache(self.engine, self.settings.routing_stats_seconds)
