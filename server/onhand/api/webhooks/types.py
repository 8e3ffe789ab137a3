"""GraphQL types of webhooks and their deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from onhand.api.context import Info
from onhand.api.events.topics import EventTopic
from onhand.api.ids import node_ids as node_ids_of
from onhand.api.pagination import Connection
from onhand.api.permissions import check
from onhand.auth.roles import Permission
from onhand.events.outbox import Topic
from onhand.events.payloads import global_id
from onhand.webhooks import deliveries
from onhand.webhooks import endpoints as webhooks


class _DeliveryStatus(StrEnum):
    PENDING = deliveries.PENDING
    SUCCEEDED = deliveries.SUCCEEDED
    DEAD = deliveries.DEAD


DeliveryStatus = strawberry.enum(
    _DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="PENDING: waiting or retrying. SUCCEEDED: the endpoint answered 2xx. DEAD: "
    "every retry failed (dead-lettered); retryWebhookDelivery sends it again.",
)


async def _load_webhooks(info: Info, ids: list[int]) -> list[Any]:
    loader = info.context.loaders.webhooks.by_id
    return list(await loader.load_many(ids))


@strawberry.type
class Webhook(relay.Node):
    id: relay.NodeID[int]
    url: str
    events: list[EventTopic]  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    channel_id: strawberry.ID | None
    description: str | None
    is_active: bool
    version: int
    consecutive_failures: int
    circuit_open_until: datetime | None = strawberry.field(
        description="Set while the circuit breaker holds deliveries back after failures."
    )
    last_success_at: datetime | None
    last_failure_at: datetime | None
    created_at: datetime
    updated_at: datetime
    max_events_per_delivery: int = strawberry.field(
        description="Events per POST: 1 sends each event alone; more sends an ordered JSON"
        " array of event bodies, one batch at a time."
    )

    @classmethod
    def from_record(cls, hook: webhooks.Webhook) -> Webhook:
        return cls(
            id=hook.id,
            url=hook.url,
            events=[Topic(t) for t in hook.topics if t in Topic.__members__],
            channel_id=strawberry.ID(global_id("Channel", hook.channel_id))
            if hook.channel_id
            else None,
            description=hook.description,
            is_active=hook.is_active,
            version=hook.version,
            consecutive_failures=hook.consecutive_failures,
            circuit_open_until=hook.circuit_open_until,
            last_success_at=hook.last_success_at,
            last_failure_at=hook.last_failure_at,
            created_at=hook.created_at,
            updated_at=hook.updated_at,
            max_events_per_delivery=hook.max_events_per_delivery,
        )

    @classmethod
    def from_row(cls, row: Any) -> Webhook:
        return cls.from_record(webhooks.Webhook.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Webhook | None]:
        check(info, Permission.MANAGE_WEBHOOKS)
        found = await _load_webhooks(info, node_ids_of(node_ids, "Webhook"))
        return [cls.from_record(h) if h else None for h in found]


@strawberry.type(description="One POST of a delivery.")
class WebhookDeliveryAttempt:
    attempted_at: datetime
    status_code: int | None = strawberry.field(
        description="null: no answer (a timeout, a refused connection)."
    )
    error: str | None = strawberry.field(description="null: the receiver took it (2xx).")
    duration_ms: float | None

    @classmethod
    def from_record(cls, attempt: deliveries.Attempt) -> WebhookDeliveryAttempt:
        return cls(
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )


@strawberry.type
class WebhookDelivery(relay.Node):
    id: relay.NodeID[int]
    webhook_id: strawberry.Private[int]
    event: str = strawberry.field(description="The event's topic.")
    sequence: int | None
    status: DeliveryStatus  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    next_attempt_at: datetime | None
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None
    body: strawberry.scalars.JSON = strawberry.field(description="What is POSTed.")
    attempts: int = strawberry.field(
        description="Attempts since the delivery was made or last retried (see history)."
    )

    @strawberry.field(
        description="Every attempt, oldest first, those before a retry of a dead-lettered "
        "delivery included."
    )
    async def history(self, info: Info) -> list[WebhookDeliveryAttempt]:
        found = await info.context.loaders.webhooks.attempts_of_delivery.load(self.id)
        return [WebhookDeliveryAttempt.from_record(a) for a in found]

    @classmethod
    def from_record(cls, delivery: deliveries.Delivery) -> WebhookDelivery:
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event=delivery.topic,
            sequence=delivery.sequence,
            status=_DeliveryStatus(delivery.status),
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at
            if delivery.status == deliveries.PENDING
            else None,
            last_error=delivery.last_error,
            last_status_code=delivery.last_status_code,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
            body=JSON(delivery.body),
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[WebhookDelivery | None]:
        check(info, Permission.MANAGE_WEBHOOKS)
        wanted = node_ids_of(node_ids, "WebhookDelivery")
        found = await info.context.read(lambda conn: deliveries.deliveries_by_ids(conn, wanted))
        return [cls.from_record(found[i]) if i in found else None for i in wanted]

    @classmethod
    def from_row(cls, row: Any) -> WebhookDelivery:
        return cls.from_record(deliveries.Delivery.from_row(row))

    @strawberry.field
    async def webhook(self, info: Info) -> Webhook | None:
        [hook] = await _load_webhooks(info, [self.webhook_id])
        return Webhook.from_record(hook) if hook else None


WebhookConnection = Connection[Webhook]
WebhookDeliveryConnection = Connection[WebhookDelivery]
