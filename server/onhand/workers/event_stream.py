"""Starting the event stream with the app: the broadcast connection, this process's hub and
(unless workers run elsewhere) a relay candidate, both kept running by the supervisor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from onhand.events.broadcast import connect_broadcast
from onhand.events.hub import Hub
from onhand.events.relay import Relay
from onhand.services import Services
from onhand.workers.supervisor import LoopBody


@contextlib.asynccontextmanager
async def event_stream(services: Services) -> AsyncIterator[None]:
    settings = services.settings
    broadcast = connect_broadcast(settings.broadcast_url)
    await broadcast.connect()
    hub = Hub(
        services.engine,
        broadcast,
        channel=settings.broadcast_channel,
        poll_seconds=settings.event_poll_seconds,
        capacity=settings.subscriber_buffer_events,
    )
    loops: dict[str, LoopBody] = {"hub": hub.run}
    if settings.run_workers_in_server:
        relay = Relay(
            services.engine,
            broadcast,
            services.database_url,
            channel=settings.broadcast_channel,
            poll_seconds=settings.event_poll_seconds,
        )
        services.relay = relay
        loops["outbox-relay"] = relay.run
    try:
        async with services.supervisor.supervise(loops):
            await asyncio.wait_for(hub.started(), timeout=30)
            services.hub = hub
            yield
    finally:
        await broadcast.disconnect()
