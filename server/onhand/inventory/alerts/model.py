"""Stock alerts: what they are, how they are listed, and what operators do with them.

An alert is raised when a condition starts (not on every change while it lasts) and resolved
when it clears; at most one alert per kind and subject is unresolved at a time (a partial
unique index enforces it). Stock conditions are judged by the evaluator
(inventory/alerts/evaluation.py) from the levels' current state, so they resolve themselves;
operators acknowledge alerts (still resolved by themselves later) and resolve the kinds that
have no clearing event (a transfer discrepancy, a stalled channel they have dealt with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.core.records import FromRow
from onhand.db.alert_tables import alerts
from onhand.events import outbox
from onhand.events.outbox import Event, Topic
from onhand.events.payloads import global_id


class AlertKind(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"  # available <= 0
    LOW_STOCK = "LOW_STOCK"  # 0 < available <= safety stock (or the low-stock threshold)
    REORDER_NEEDED = "REORDER_NEEDED"  # available + incoming <= reorder point
    HIGH_VELOCITY = "HIGH_VELOCITY"  # outbound units in the last hour above the threshold
    SYNC_STALLED = "SYNC_STALLED"  # a channel stopped syncing
    TRANSFER_DISCREPANCY = "TRANSFER_DISCREPANCY"  # received differs from shipped
    SOURCE_EVENT_FAILED = "SOURCE_EVENT_FAILED"  # a source system's event the ledger refused
    WEBHOOK_DEAD = "WEBHOOK_DEAD"  # a webhook's delivery ran out of attempts
    ORDER_SHORTFALL = "ORDER_SHORTFALL"  # an order was reserved only in part (a SHORTFALL)


class AlertSeverity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class AlertStatus(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


SEVERITY = {
    AlertKind.OUT_OF_STOCK: AlertSeverity.HIGH,
    AlertKind.LOW_STOCK: AlertSeverity.MEDIUM,
    AlertKind.REORDER_NEEDED: AlertSeverity.LOW,
    AlertKind.HIGH_VELOCITY: AlertSeverity.MEDIUM,
    # A stalled channel keeps selling what it last saw: ghost inventory in the making.
    AlertKind.SYNC_STALLED: AlertSeverity.HIGH,
    AlertKind.TRANSFER_DISCREPANCY: AlertSeverity.MEDIUM,
    # Stock a source system reported that the ledger does not hold: a silent drift otherwise.
    AlertKind.SOURCE_EVENT_FAILED: AlertSeverity.HIGH,
    # A receiver that missed an event may show stale stock until it is sent again.
    AlertKind.WEBHOOK_DEAD: AlertSeverity.HIGH,
    # A customer's order cannot ship in full until someone finds the missing units.
    AlertKind.ORDER_SHORTFALL: AlertSeverity.HIGH,
}
# Kinds an operator may resolve: no stock condition clears them by itself.
MANUAL_KINDS = frozenset(
    {
        AlertKind.SYNC_STALLED,
        AlertKind.TRANSFER_DISCREPANCY,
        AlertKind.SOURCE_EVENT_FAILED,
        AlertKind.WEBHOOK_DEAD,
        AlertKind.ORDER_SHORTFALL,
    }
)


@dataclass(frozen=True, slots=True)
class Alert(FromRow):
    id: int
    kind: str
    severity: str
    status: str
    subject: str
    product_id: int | None
    warehouse_id: int | None
    channel_id: int | None
    message: str
    details: dict[str, Any]
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


def alert_event(alert: Alert) -> Event:
    """ALERT_RAISED for an unresolved alert, ALERT_RESOLVED for a resolved one."""
    resolved = alert.status == AlertStatus.RESOLVED
    return Event(
        topic=Topic.ALERT_RESOLVED if resolved else Topic.ALERT_RAISED,
        payload={
            "alertId": alert.id,
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "message": alert.message,
            "productId": alert.product_id,
            "warehouseId": alert.warehouse_id,
            "channelId": alert.channel_id,
            "details": alert.details,
            "raisedAt": alert.raised_at.isoformat(),
            "resolvedAt": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "resolvedBy": alert.resolved_by,
        },
        product_id=alert.product_id,
        warehouse_id=alert.warehouse_id,
        channel_id=alert.channel_id,
    )


async def alerts_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Alert]:
    rows = await conn.execute(select(alerts).where(alerts.c.id.in_(list(ids))))
    return {row.id: Alert.from_row(row) for row in rows}


@dataclass(frozen=True)
class AlertFilter:
    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    product_ids: tuple[int, ...] = ()
    warehouse_ids: tuple[int, ...] = ()
    channel_ids: tuple[int, ...] = ()


def alert_listing(given: AlertFilter) -> Listing:
    """Alerts matching the filter, newest first."""
    query = select(alerts)
    for column, values in (
        (alerts.c.status, given.statuses),
        (alerts.c.kind, given.kinds),
        (alerts.c.severity, given.severities),
        (alerts.c.product_id, given.product_ids),
        (alerts.c.warehouse_id, given.warehouse_ids),
        (alerts.c.channel_id, given.channel_ids),
    ):
        if values:
            query = query.where(column.in_(list(values)))
    return Listing(query, alerts.c.id, descending=True)


async def _current(conn: AsyncConnection, alert_id: int) -> Alert:
    row = (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).first()
    if row is None:
        raise DomainError.of(
            ErrorCode.NOT_FOUND, f"alert {global_id('Alert', alert_id)} does not exist", "alertId"
        )
    return Alert.from_row(row)


async def acknowledge(conn: AsyncConnection, alert_id: int, actor: str) -> Alert:
    """OPEN -> ACKNOWLEDGED (someone is on it). Acknowledging twice changes nothing; a
    resolved alert cannot be acknowledged."""
    row = (
        await conn.execute(
            text(
                "UPDATE alerts SET status = 'ACKNOWLEDGED', acknowledged_at = now(),"
                " acknowledged_by = :actor WHERE id = :id AND status = 'OPEN' RETURNING *"
            ),
            {"id": alert_id, "actor": actor},
        )
    ).first()
    if row is not None:
        return Alert.from_row(row)
    alert = await _current(conn, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"alert {global_id('Alert', alert_id)} is already resolved",
            "alertId",
            status=alert.status,
        )
    return alert


async def resolve(conn: AsyncConnection, alert_id: int, actor: str) -> Alert:
    """Close an alert of a kind nothing else closes, and tell subscribers and webhooks."""
    alert = await _current(conn, alert_id)
    # A bulk change's summary (bulk.py) stands for many levels: no one level clears it.
    if alert.kind not in MANUAL_KINDS and not alert.subject.startswith("bulk:"):
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"{alert.kind} alerts resolve by themselves when the stock condition clears",
            "alertId",
            kind=alert.kind,
        )
    row = (
        await conn.execute(
            text(
                "UPDATE alerts SET status = 'RESOLVED', resolved_at = now(), resolved_by = :actor"
                " WHERE id = :id AND status <> 'RESOLVED' RETURNING *"
            ),
            {"id": alert_id, "actor": actor},
        )
    ).first()
    if row is None:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"alert {global_id('Alert', alert_id)} is already resolved",
            "alertId",
            status=AlertStatus.RESOLVED,
        )
    resolved = Alert.from_row(row)
    await outbox.append(conn, [alert_event(resolved)])
    return resolved
