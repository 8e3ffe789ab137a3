"""The topics of events, as one GraphQL enum: what a webhook is sent and what inventoryChanges
filters by."""

from __future__ import annotations

import strawberry

from onhand.events.outbox import Topic

EventTopic = strawberry.enum(
    Topic,
    name="EventTopic",
    description="What an event is about: webhooks are sent the topics they name, and "
    "inventoryChanges(topics:) lists only those.",
)
