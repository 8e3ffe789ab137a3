"""Alert queries: alerts, newest first, filtered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.api.alerts.types import (
    Alert,
    AlertConnection,
    AlertKind,
    AlertSeverity,
    AlertStatus,
)
from onhand.api.channels.access import channel_filter_id, channel_ref
from onhand.api.context import Info
from onhand.api.inputs import filter_id, product_ref, warehouse_ref
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.auth.roles import Permission
from onhand.core.refs import Ref
from onhand.inventory.alerts.model import AlertFilter, alert_listing
from onhand.inventory.refs import resolve_product, resolve_warehouse

STOCK = [requires(Permission.READ_STOCK)]


@strawberry.input
class AlertFilterInput:
    status: list[AlertStatus] | None = strawberry.field(  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        default=None, description="One status or several (e.g. [OPEN, ACKNOWLEDGED])."
    )
    kind: list[AlertKind] | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    severity: list[AlertSeverity] | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    channel_id: strawberry.ID | None = None


async def _filter_ids(
    info: Info, ref: Ref | None, resolve: Callable[[AsyncConnection, Ref], Awaitable[int]]
) -> tuple[int, ...]:
    found = await filter_id(info, ref, resolve)
    return () if found is None else (found,)


async def alert_filter(info: Info, given: AlertFilterInput) -> AlertFilter:
    product = (
        product_ref(given.product_id, given.sku)
        if given.product_id is not None or given.sku is not None
        else None
    )
    warehouse = (
        warehouse_ref(given.warehouse_id, given.warehouse_code)
        if given.warehouse_id is not None or given.warehouse_code is not None
        else None
    )
    channel = await channel_filter_id(
        info.context, channel_ref(info.context, given.channel_id, None, "filter.channelId")
    )
    return AlertFilter(
        statuses=tuple(str(s) for s in given.status or ()),
        kinds=tuple(str(k) for k in given.kind or ()),
        severities=tuple(str(s) for s in given.severity or ()),
        product_ids=await _filter_ids(info, product, resolve_product),
        warehouse_ids=await _filter_ids(info, warehouse, resolve_warehouse),
        channel_ids=(channel,) if channel is not None else (),
    )


@strawberry.type
class AlertQuery:
    @strawberry.field(permission_classes=STOCK, description="Stock alerts, newest first.")
    async def alerts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AlertFilterInput | None = None,
    ) -> AlertConnection:
        listing = alert_listing(await alert_filter(info, filter or AlertFilterInput()))
        return await paginate(info, listing, Alert.from_row, first, after, AlertConnection)
