"""The long-lived parts of a running onhand, built once per process and shared by requests
and workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.tokens import Authenticator
from onhand.config import Settings
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
    # Set by the event stream component when the app starts (events/runtime.py).
    hub: Hub | None = None
    relay: Relay | None = None
    # Keeps this process's background loops running; /readyz asks it which are not.
    supervisor: Supervisor = field(default_factory=Supervisor)
    # Other components' long-lived objects, by name.
    extras: dict[str, Any] = field(default_factory=dict)
