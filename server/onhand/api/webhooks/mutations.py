"""Webhook mutations (admins)."""

from __future__ import annotations

from typing import Any

import strawberry

from onhand.api import ids
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.events.topics import EventTopic
from onhand.api.inputs import provided
from onhand.api.permissions import mutate
from onhand.api.webhooks.types import Webhook, WebhookDelivery
from onhand.auth.roles import Permission
from onhand.webhooks import deliveries
from onhand.webhooks import endpoints as webhooks


@strawberry.input
class CreateWebhookInput:
    url: str
    events: list[EventTopic]  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this channel's events (its warehouses' stock changes)."
    )
    secret: str | None = strawberry.field(
        default=None, description="Signs every delivery; generated when not given."
    )
    description: str | None = None
    is_active: bool = True
    max_events_per_delivery: int = strawberry.field(
        default=1,
        description=(
            "Events per POST. 1 (the default): each event is POSTed alone, its body the event"
            " itself. More: up to this many pending events are POSTed together as a JSON array"
            " of those same bodies, oldest first, signed over the whole array; one batch is on"
            " its way at a time, so the endpoint receives them in order (a failed batch is"
            " retried before anything later is sent). 1-1000."
        ),
    )


@strawberry.input
class UpdateWebhookInput:
    id: strawberry.ID
    expected_version: int | None = None
    url: str | None = strawberry.UNSET
    events: list[EventTopic] | None = strawberry.UNSET  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    channel_id: strawberry.ID | None = strawberry.UNSET
    secret: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    max_events_per_delivery: int | None = strawberry.field(
        default=strawberry.UNSET, description="Events per POST (see CreateWebhookInput)."
    )


@strawberry.input
class DeleteWebhookInput:
    id: strawberry.ID


@strawberry.input
class RetryWebhookDeliveryInput:
    id: strawberry.ID


@strawberry.type
class CreateWebhookPayload:
    webhook: Webhook | None = None
    secret: str | None = strawberry.field(
        default=None, description="The signing secret: shown only here, once."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateWebhookPayload:
    webhook: Webhook | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteWebhookPayload:
    deleted_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RetryWebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _values(given: dict[str, Any]) -> dict[str, Any]:
    values = dict(given)
    if "events" in values:
        values["topics"] = [str(e) for e in values.pop("events") or []]
    if "channel_id" in values:
        values["channel_id"] = ids.decode_optional(values["channel_id"], "Channel", "channelId")
    return values


@strawberry.type
class WebhookMutation:
    @strawberry.mutation
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> CreateWebhookPayload:
        async def work(context: Context) -> CreateWebhookPayload:
            values = _values(provided(input))
            hook = await context.transaction(lambda c: webhooks.create_webhook(c, values))
            return CreateWebhookPayload(webhook=Webhook.from_record(hook), secret=hook.secret)

        return await mutate(info, Permission.MANAGE_WEBHOOKS, CreateWebhookPayload, work)

    @strawberry.mutation
    async def update_webhook(self, info: Info, input: UpdateWebhookInput) -> UpdateWebhookPayload:
        async def work(context: Context) -> UpdateWebhookPayload:
            webhook_id = ids.decode(input.id, "Webhook", "id")
            changes = _values(provided(input, exclude={"id", "expected_version"}))
            hook = await context.transaction(
                lambda c: webhooks.update_webhook(c, webhook_id, changes, input.expected_version)
            )
            return UpdateWebhookPayload(webhook=Webhook.from_record(hook))

        return await mutate(info, Permission.MANAGE_WEBHOOKS, UpdateWebhookPayload, work)

    @strawberry.mutation
    async def delete_webhook(self, info: Info, input: DeleteWebhookInput) -> DeleteWebhookPayload:
        async def work(context: Context) -> DeleteWebhookPayload:
            webhook_id = ids.decode(input.id, "Webhook", "id")
            await context.transaction(lambda c: webhooks.delete_webhook(c, webhook_id))
            return DeleteWebhookPayload(deleted_id=input.id)

        return await mutate(info, Permission.MANAGE_WEBHOOKS, DeleteWebhookPayload, work)

    @strawberry.mutation(description="Send a delivery again (e.g. a dead-lettered one).")
    async def retry_webhook_delivery(
        self, info: Info, input: RetryWebhookDeliveryInput
    ) -> RetryWebhookDeliveryPayload:
        async def work(context: Context) -> RetryWebhookDeliveryPayload:
            delivery_id = ids.decode(input.id, "WebhookDelivery", "id")
            delivery = await context.transaction(lambda c: deliveries.retry(c, delivery_id))
            return RetryWebhookDeliveryPayload(delivery=WebhookDelivery.from_record(delivery))

        return await mutate(info, Permission.MANAGE_WEBHOOKS, RetryWebhookDeliveryPayload, work)
