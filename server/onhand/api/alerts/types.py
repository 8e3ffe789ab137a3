"""GraphQL types of stock alerts, and the events that announce them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from onhand.api import ids
from onhand.api.channels.types import Channel, load_channel
from onhand.api.context import Info
from onhand.api.events.scalars import Long
from onhand.api.events.types import StreamEvent, register
from onhand.api.pagination import Connection
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.events.payloads import outward
from onhand.inventory.alerts import model as alerts

AlertKind = strawberry.enum(
    alerts.AlertKind,
    name="AlertKind",
    description="OUT_OF_STOCK: available <= 0. LOW_STOCK: available at or below the level's "
    "safety stock (the configured low-stock threshold when it has none). REORDER_NEEDED: "
    "available + incoming at or below the reorder point. HIGH_VELOCITY: more units left on "
    "hand in the last hour (sales, transfers out, negative adjustments) than the configured "
    "rate. SYNC_STALLED: a channel stopped syncing. TRANSFER_DISCREPANCY: a transfer order "
    "received a different quantity than it shipped. ORDER_SHORTFALL: an order was reserved "
    "only in part (a SHORTFALL event; quantity: the units missing).",
)
AlertSeverity = strawberry.enum(alerts.AlertSeverity, name="AlertSeverity")
AlertStatus = strawberry.enum(
    alerts.AlertStatus,
    name="AlertStatus",
    description="OPEN: raised. ACKNOWLEDGED: someone is on it (it still resolves by itself). "
    "RESOLVED: the condition cleared, or an operator resolved it.",
)


async def _load_alerts(info: Info, alert_ids: list[int]) -> list[alerts.Alert | None]:
    loader = info.context.loaders.alerts.by_id
    return list(await loader.load_many(alert_ids))


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@strawberry.type(
    description="A stock condition that started (raised) and, once it cleared, ended "
    "(resolved). At most one alert per condition and subject is unresolved at a time."
)
class Alert(relay.Node):
    id: relay.NodeID[int]
    kind: AlertKind  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    severity: AlertSeverity  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    status: AlertStatus  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    message: str
    details: strawberry.scalars.JSON = strawberry.field(
        description="The facts of the condition when it was raised."
    )
    quantity: int | None = strawberry.field(
        description="The quantity judged when raised: available units (stock kinds), units "
        "in the last hour (HIGH_VELOCITY), received minus shipped (TRANSFER_DISCREPANCY), "
        "units missing (ORDER_SHORTFALL)."
    )
    threshold: int | None = strawberry.field(description="The limit the quantity crossed.")
    reorder_quantity: int | None = strawberry.field(
        description="REORDER_NEEDED: how many units the level's reorder quantity says to order."
    )
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    product_id: strawberry.Private[int | None]
    warehouse_id: strawberry.Private[int | None]
    channel_id: strawberry.Private[int | None]

    @classmethod
    def from_record(cls, alert: alerts.Alert) -> Alert:
        details = alert.details or {}
        return cls(
            id=alert.id,
            kind=alerts.AlertKind(alert.kind),
            severity=alerts.AlertSeverity(alert.severity),
            status=alerts.AlertStatus(alert.status),
            message=alert.message,
            details=JSON(outward(details)),
            quantity=_number(details.get("quantity")),
            threshold=_number(details.get("threshold")),
            reorder_quantity=_number(details.get("reorderQuantity")),
            raised_at=alert.raised_at,
            acknowledged_at=alert.acknowledged_at,
            acknowledged_by=alert.acknowledged_by,
            resolved_at=alert.resolved_at,
            resolved_by=alert.resolved_by,
            product_id=alert.product_id,
            warehouse_id=alert.warehouse_id,
            channel_id=alert.channel_id,
        )

    @classmethod
    def from_row(cls, row: Any) -> Alert:
        return cls.from_record(alerts.Alert.from_row(row))

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> Alert:
        """The alert as its ALERT_RAISED / ALERT_RESOLVED event describes it."""
        resolved_at = p.get("resolvedAt")
        return cls.from_record(
            alerts.Alert(
                id=p["alertId"],
                kind=p["kind"],
                severity=p["severity"],
                status=p["status"],
                subject="",
                product_id=p.get("productId"),
                warehouse_id=p.get("warehouseId"),
                channel_id=p.get("channelId"),
                message=p["message"],
                details=p.get("details") or {},
                raised_at=datetime.fromisoformat(p["raisedAt"]),
                acknowledged_at=None,
                acknowledged_by=None,
                resolved_at=datetime.fromisoformat(resolved_at) if resolved_at else None,
                resolved_by=p.get("resolvedBy"),
            )
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Alert | None]:
        check(info, Permission.READ_STOCK)
        found = await _load_alerts(info, ids.node_ids(node_ids, "Alert"))
        return [cls.from_record(a) if a else None for a in found]

    @strawberry.field(description="The product, for stock, transfer and shortfall alerts.")
    async def product(self, info: Info) -> Product | None:
        if self.product_id is None:
            return None
        return await Product.load(info, self.product_id)

    @strawberry.field(
        description="The warehouse, for stock and transfer alerts (and a shortfall at a "
        "warehouse the order named)."
    )
    async def warehouse(self, info: Info) -> Warehouse | None:
        if self.warehouse_id is None:
            return None
        return await Warehouse.load(info, self.warehouse_id)

    @strawberry.field(description="The channel, for SYNC_STALLED and ORDER_SHORTFALL.")
    async def channel(self, info: Info) -> Channel | None:
        if self.channel_id is None:
            return None
        record = await load_channel(info, self.channel_id)
        return Channel.from_record(record) if record else None


AlertConnection = Connection[Alert]


@strawberry.type(description="An alert was raised (ALERT_RAISED) or resolved (ALERT_RESOLVED).")
class AlertEvent(StreamEvent):
    topic: str
    alert: Alert

    @classmethod
    def from_event(cls, event: Published) -> AlertEvent:
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            topic=event.topic,
            alert=Alert.from_payload(event.payload),
        )


register(Topic.ALERT_RAISED, AlertEvent)
register(Topic.ALERT_RESOLVED, AlertEvent)
