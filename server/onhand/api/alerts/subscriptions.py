"""Alert subscriptions: alerts as they are raised or resolved, with `after:` replay."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from onhand.api.alerts.types import AlertEvent, AlertKind, AlertSeverity
from onhand.api.context import Info
from onhand.api.events.scalars import Long
from onhand.api.events.streams import stream
from onhand.api.events.subscriptions import AFTER, key_filter
from onhand.api.permissions import check
from onhand.auth.roles import Permission
from onhand.events.envelope import Published
from onhand.events.outbox import Topic


async def _alerts(
    info: Info,
    topic: Topic,
    kinds: list[str] | None,
    severities: list[str] | None,
    product_ids: list[strawberry.ID] | None,
    skus: list[str] | None,
    warehouse_ids: list[strawberry.ID] | None,
    warehouse_codes: list[str] | None,
    after: int | None,
) -> AsyncGenerator[AlertEvent, None]:
    check(info, Permission.READ_STOCK)
    keys = await key_filter(info, product_ids, skus, warehouse_ids, warehouse_codes)
    wanted_kinds = {str(k) for k in kinds or ()}
    wanted_severities = {str(s) for s in severities or ()}

    def accepts(event: Published) -> bool:
        payload = event.payload
        if wanted_kinds and payload.get("kind") not in wanted_kinds:
            return False
        if wanted_severities and payload.get("severity") not in wanted_severities:
            return False
        return keys.accepts(event)

    async for event in stream(info, (topic,), accepts, after):
        yield AlertEvent.from_event(event)


@strawberry.type
class AlertSubscription:
    @strawberry.subscription(
        description="Alerts as they are raised (filters: kinds, severities, products, "
        "warehouses; alerts about channels have no product or warehouse)."
    )
    async def alert_raised(
        self,
        info: Info,
        kinds: list[AlertKind] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        severities: list[AlertSeverity] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
        warehouse_ids: list[strawberry.ID] | None = None,
        warehouse_codes: list[str] | None = None,
        after: Annotated[Long | None, AFTER] = None,
    ) -> AsyncGenerator[AlertEvent, None]:
        async for event in _alerts(
            info,
            Topic.ALERT_RAISED,
            kinds,
            severities,
            product_ids,
            skus,
            warehouse_ids,
            warehouse_codes,
            after,
        ):
            yield event

    @strawberry.subscription(description="Alerts as they are resolved (same filters).")
    async def alert_resolved(
        self,
        info: Info,
        kinds: list[AlertKind] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        severities: list[AlertSeverity] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
        warehouse_ids: list[strawberry.ID] | None = None,
        warehouse_codes: list[str] | None = None,
        after: Annotated[Long | None, AFTER] = None,
    ) -> AsyncGenerator[AlertEvent, None]:
        async for event in _alerts(
            info,
            Topic.ALERT_RESOLVED,
            kinds,
            severities,
            product_ids,
            skus,
            warehouse_ids,
            warehouse_codes,
            after,
        ):
            yield event
