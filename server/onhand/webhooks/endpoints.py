"""Webhooks: where to POST which events. Managed by admins; deliveries are in deliveries.py."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.core.records import FromRow
from onhand.db.event_tables import webhooks
from onhand.db.versioned import versioned_update
from onhand.events.outbox import Topic
from onhand.events.payloads import global_id

EDITABLE = (
    "url",
    "topics",
    "channel_id",
    "secret",
    "description",
    "is_active",
    "max_events_per_delivery",
)
# At most this many events in one POST: a body stays well under receivers' usual limits.
MAX_EVENTS_PER_DELIVERY = 1000


@dataclass(frozen=True, slots=True)
class Webhook(FromRow):
    id: int
    url: str
    topics: list[str]
    channel_id: int | None
    secret: str
    description: str | None
    is_active: bool
    version: int
    consecutive_failures: int
    circuit_open_until: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    created_at: datetime
    updated_at: datetime
    max_events_per_delivery: int = 1


def _validate(values: Mapping[str, Any], errors: Collector) -> dict[str, Any]:
    clean = dict(values)
    if "url" in values:
        parsed = urlparse(values["url"] or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.invalid("url", "url must be an absolute http:// or https:// URL")
        elif len(values["url"]) > 2000:
            errors.invalid("url", "url must be at most 2000 characters")
    if "topics" in values:
        topics = values["topics"] or []
        if not topics:
            errors.add(ErrorCode.REQUIRED, "name at least one event", "events")
        unknown = sorted(set(topics) - {t.value for t in Topic})
        if unknown:
            errors.invalid("events", f"unknown events: {', '.join(unknown)}")
        clean["topics"] = sorted(set(topics))
    if "secret" in values:
        secret = values["secret"]
        if secret is None or not 16 <= len(secret) <= 200:
            errors.invalid("secret", "secret must be 16-200 characters")
    if "max_events_per_delivery" in values:
        size = values["max_events_per_delivery"]
        if size is None or not 1 <= size <= MAX_EVENTS_PER_DELIVERY:
            errors.invalid(
                "maxEventsPerDelivery",
                f"maxEventsPerDelivery must be 1-{MAX_EVENTS_PER_DELIVERY}",
            )
    if "description" in values and values["description"] and len(values["description"]) > 500:
        errors.invalid("description", "description must be at most 500 characters")
    return clean


async def create_webhook(conn: AsyncConnection, values: Mapping[str, Any]) -> Webhook:
    errors = Collector()
    given = {
        "secret": secrets.token_urlsafe(32),
        **{k: v for k, v in values.items() if v is not None},
    }
    for required in ("url", "topics"):
        if required not in given:
            errors.add(ErrorCode.REQUIRED, f"{required} is required", required)
    clean = _validate(given, errors)
    errors.raise_if_any()
    row = (await conn.execute(insert(webhooks).values(**clean).returning(webhooks))).one()
    return Webhook.from_row(row)


async def update_webhook(
    conn: AsyncConnection,
    webhook_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> Webhook:
    errors = Collector()
    clean = _validate(changes, errors)
    errors.raise_if_any()
    values = dict(clean)
    if "url" in clean or clean.get("is_active"):
        # A new address, or switching it back on, starts with a closed circuit.
        values.update(consecutive_failures=0, circuit_open_until=None)
    row = await versioned_update(conn, webhooks, webhook_id, values, expected_version, "webhook")
    return Webhook.from_row(row)


async def delete_webhook(conn: AsyncConnection, webhook_id: int) -> None:
    result = await conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
    if not result.rowcount:
        raise DomainError.of(
            ErrorCode.NOT_FOUND, f"webhook {global_id('Webhook', webhook_id)} does not exist", "id"
        )


async def get_webhook(conn: AsyncConnection, webhook_id: int) -> Webhook | None:
    row = (await conn.execute(select(webhooks).where(webhooks.c.id == webhook_id))).first()
    return Webhook.from_row(row) if row else None


async def webhooks_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Webhook]:
    rows = await conn.execute(select(webhooks).where(webhooks.c.id.in_(ids)))
    return {row.id: Webhook.from_row(row) for row in rows}


def webhook_listing(is_active: bool | None = None) -> Listing:
    query = select(webhooks)
    if is_active is not None:
        query = query.where(webhooks.c.is_active == is_active)
    return Listing(query, webhooks.c.id)
