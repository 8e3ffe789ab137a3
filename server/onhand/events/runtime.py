"""Starting the event stream with the app: the broadcast connection, this process's hub and
(unless workers run elsewhere) a relay candidate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from onhand.events.broadcast import connect_broadcast
from onhand.events.hub import Hub
from onhand.events.relay import Relay
from onhand.services import Services


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
    tasks = [asyncio.create_task(hub.run(), name="onhand-hub")]
    if settings.run_workers_in_server:
        relay = Relay(
            services.engine,
            broadcast,
            services.database_url,
            channel=settings.broadcast_channel,
            retention_days=settings.outbox_retention_days,
            poll_seconds=settings.event_poll_seconds,
        )
        services.relay = relay
        tasks.append(asyncio.create_task(relay.run(), name="onhand-relay"))
    await asyncio.wait_for(hub.started(), timeout=30)
    services.hub = hub
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await broadcast.disconnect()
