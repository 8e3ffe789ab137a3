"""Webhook queries (admins)."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.api.webhooks.types import (
    DeliveryStatus,
    Webhook,
    WebhookConnection,
    WebhookDelivery,
    WebhookDeliveryConnection,
)
from onhand.auth.roles import Permission
from onhand.webhooks.deliveries import delivery_listing
from onhand.webhooks.endpoints import webhook_listing

ADMIN = [requires(Permission.MANAGE_WEBHOOKS)]


@strawberry.type
class WebhookQuery:
    @strawberry.field(permission_classes=ADMIN)
    async def webhooks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        is_active: bool | None = None,
    ) -> WebhookConnection:
        return await paginate(
            info, webhook_listing(is_active), Webhook.from_row, first, after, WebhookConnection
        )

    @strawberry.field(
        permission_classes=ADMIN,
        description="Deliveries, newest first: status, attempts and the last error.",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        webhook_id: strawberry.ID | None = None,
        status: DeliveryStatus | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        first: int | None = None,
        after: str | None = None,
    ) -> WebhookDeliveryConnection:
        hook = ids.decode_optional(webhook_id, "Webhook", "webhookId")
        listing = delivery_listing(hook, str(status) if status else None)
        return await paginate(
            info, listing, WebhookDelivery.from_row, first, after, WebhookDeliveryConnection
        )
