"""The stock conditions, judged for many levels in one statement, and raising/resolving alerts.

For each level judged, every stock kind is either active or not, from the level's current
state (never from an event's payload, so a late or repeated evaluation gives the same answer):

- OUT_OF_STOCK: available <= 0.
- LOW_STOCK: 0 < available <= the level's safety stock, or the configured low-stock threshold
  when the level has no safety stock. Out of stock replaces low stock (the low alert resolves,
  the out-of-stock one is raised), so one level never shouts twice about the same shortage.
- REORDER_NEEDED: a reorder point is set (> 0) and available + incoming <= it: stock already
  on its way counts, so a reorder that has been placed does not keep the alert open.
- HIGH_VELOCITY: outbound units over the last hour (movements recorded and dated in it: a
  backdated import of last month's sales is not velocity) exceed the configured units per
  hour. Outbound means units leaving on hand by a SALE (fulfilment included), a
  TRANSFER_OUT, or a negative ADJUSTMENT; counts, sets and damage are corrections, not
  demand, and are left out. Judged again now and then while open: the hour slides on.

An active condition with no unresolved alert raises one; an inactive condition resolves its
unresolved alert (acknowledged or not). The partial unique index on (kind, subject) makes
"raise" a no-op when an unresolved alert exists, whoever else is raising at the same moment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.alerts.model import SEVERITY, Alert, AlertKind

SYSTEM_ACTOR = "alert-evaluator"


@dataclass(frozen=True, slots=True)
class Thresholds:
    low_stock: int = 10
    high_velocity_units_per_hour: int = 100
    # The hour HIGH_VELOCITY looks back over, on the server's clock (shorter when the server
    # runs simulated time).
    velocity_window: timedelta = timedelta(hours=1)
    # More stock alerts than this from one evaluation: one summary instead (bulk.py).
    bulk: int = 50


def level_subject(product_id: int, warehouse_id: int) -> str:
    return f"{product_id}:{warehouse_id}"


def _kind(kind: AlertKind, active: str, message: str, details: str) -> str:
    return f"('{kind}', '{SEVERITY[kind]}', {active}, {message}, {details})"


_KINDS = ",\n        ".join(
    (
        _kind(
            AlertKind.OUT_OF_STOCK,
            "s.present AND s.available <= 0",
            "format('%s is out of stock at %s (available %s)', s.sku, s.code, s.available)",
            "jsonb_build_object('quantity', s.available, 'threshold', 0)",
        ),
        _kind(
            AlertKind.LOW_STOCK,
            "s.present AND s.available > 0 AND s.available <= s.low_at",
            "format('%s is low at %s (available %s, threshold %s)',"
            " s.sku, s.code, s.available, s.low_at)",
            "jsonb_build_object('quantity', s.available, 'threshold', s.low_at)",
        ),
        _kind(
            AlertKind.REORDER_NEEDED,
            "s.present AND s.reorder_point > 0 AND s.available + s.incoming <= s.reorder_point",
            "format('Reorder %s of %s for %s (available %s + incoming %s, reorder point %s)',"
            " s.reorder_quantity, s.sku, s.code, s.available, s.incoming, s.reorder_point)",
            "jsonb_build_object('quantity', s.available, 'incoming', s.incoming,"
            " 'threshold', s.reorder_point, 'reorderQuantity', s.reorder_quantity)",
        ),
        _kind(
            AlertKind.HIGH_VELOCITY,
            "s.present AND s.outbound > CAST(:velocity AS bigint)",
            "format('%s is leaving %s fast (%s units in the last hour, threshold %s)',"
            " s.sku, s.code, s.outbound, CAST(:velocity AS bigint))",
            "jsonb_build_object('quantity', s.outbound,"
            " 'threshold', CAST(:velocity AS bigint), 'windowMinutes', 60)",
        ),
    )
)

_JUDGE = text(
    f"""
    WITH floor AS (
        -- The first movement recorded in the window (with a minute to spare: ids and
        -- recorded_at are not in exactly the same order), so that the per-level sums below
        -- read an hour of history, not all of it.
        SELECT coalesce((
            SELECT id FROM inventory_movements
            WHERE recorded_at > now() - CAST(:window AS interval) - interval '1 minute'
            ORDER BY recorded_at LIMIT 1
        ), 9223372036854775807) AS id
    ),
    touched AS (
        SELECT DISTINCT t.product_id, t.warehouse_id
        FROM unnest(CAST(:p AS bigint[]), CAST(:w AS bigint[])) AS t(product_id, warehouse_id)
    ),
    state AS (
        SELECT t.product_id, t.warehouse_id, l.id IS NOT NULL AS present,
            l.available, l.incoming, l.reorder_point, l.reorder_quantity,
            CASE WHEN l.safety_stock > 0 THEN l.safety_stock ELSE CAST(:low AS integer) END
                AS low_at,
            coalesce(v.units, 0) AS outbound,
            coalesce(p.sku, t.product_id::text) AS sku,
            coalesce(w.code, t.warehouse_id::text) AS code
        FROM touched t
        CROSS JOIN floor f
        LEFT JOIN inventory_levels l
            ON l.product_id = t.product_id AND l.warehouse_id = t.warehouse_id
        LEFT JOIN products p ON p.id = t.product_id
        LEFT JOIN warehouses w ON w.id = t.warehouse_id
        LEFT JOIN LATERAL (
            SELECT sum(-m.d_on_hand) AS units FROM inventory_movements m
            WHERE m.level_id = l.id AND m.id >= f.id AND m.d_on_hand < 0
              AND m.type IN ('SALE', 'TRANSFER_OUT', 'ADJUSTMENT')
              AND m.recorded_at > now() - CAST(:window AS interval)
              AND m.occurred_at > now() - CAST(:window AS interval)
        ) v ON true
    ),
    judged AS (
        SELECT s.product_id, s.warehouse_id, s.product_id::text || ':' || s.warehouse_id::text
                AS subject,
            k.kind, k.severity, coalesce(k.active, false) AS active, k.message, k.details
        FROM state s CROSS JOIN LATERAL (VALUES
        {_KINDS}
        ) AS k(kind, severity, active, message, details)
    ),
    resolved AS (
        UPDATE alerts a SET status = 'RESOLVED', resolved_at = now(), resolved_by = :actor
        FROM judged j
        WHERE NOT j.active AND a.kind = j.kind AND a.subject = j.subject
          AND a.status <> 'RESOLVED'
        RETURNING a.*
    ),
    raised AS (
        INSERT INTO alerts (kind, severity, subject, product_id, warehouse_id, message, details)
        SELECT j.kind, j.severity, j.subject, j.product_id, j.warehouse_id, j.message, j.details
        FROM judged j WHERE j.active
        ORDER BY j.subject, j.kind
        ON CONFLICT (kind, subject) WHERE status <> 'RESOLVED' DO NOTHING
        RETURNING alerts.*
    )
    SELECT * FROM resolved UNION ALL SELECT * FROM raised
    """
)


async def judge_levels(
    conn: AsyncConnection, pairs: Iterable[tuple[int, int]], thresholds: Thresholds
) -> list[Alert]:
    """Raise and resolve the stock alerts of these (product, warehouse) levels; returns the
    alerts that changed (resolved ones with status RESOLVED)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return []
    rows = await conn.execute(
        _JUDGE,
        {
            "p": [p for p, _ in wanted],
            "w": [w for _, w in wanted],
            "low": thresholds.low_stock,
            "velocity": thresholds.high_velocity_units_per_hour,
            "window": thresholds.velocity_window,
            "actor": SYSTEM_ACTOR,
        },
    )
    return [Alert.from_row(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Draft:
    """An alert to raise unless one is already unresolved for its kind and subject."""

    kind: AlertKind
    subject: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    product_id: int | None = None
    warehouse_id: int | None = None
    channel_id: int | None = None


_RAISE = text(
    """
    INSERT INTO alerts (kind, severity, subject, product_id, warehouse_id, channel_id,
        message, details)
    VALUES (:kind, :severity, :subject, :product_id, :warehouse_id, :channel_id, :message,
        CAST(:details AS jsonb))
    ON CONFLICT (kind, subject) WHERE status <> 'RESOLVED' DO NOTHING
    RETURNING *
    """
)


async def raise_alert(conn: AsyncConnection, draft: Draft) -> Alert | None:
    """The new alert, or None when one is already unresolved."""
    row = (
        await conn.execute(
            _RAISE,
            {
                "kind": draft.kind,
                "severity": SEVERITY[draft.kind],
                "subject": draft.subject,
                "product_id": draft.product_id,
                "warehouse_id": draft.warehouse_id,
                "channel_id": draft.channel_id,
                "message": draft.message,
                "details": json.dumps(draft.details, default=str),
            },
        )
    ).first()
    return Alert.from_row(row) if row is not None else None


async def resolve_subject(
    conn: AsyncConnection, kind: AlertKind, subject: str, actor: str = SYSTEM_ACTOR
) -> list[Alert]:
    """Resolve the unresolved alert of this kind and subject, if any."""
    rows = await conn.execute(
        text(
            "UPDATE alerts SET status = 'RESOLVED', resolved_at = now(), resolved_by = :actor"
            " WHERE kind = :kind AND subject = :subject AND status <> 'RESOLVED' RETURNING *"
        ),
        {"kind": kind, "subject": subject, "actor": actor},
    )
    return [Alert.from_row(row) for row in rows]


async def velocity_subjects(conn: AsyncConnection) -> Sequence[tuple[int, int]]:
    """Levels with an unresolved HIGH_VELOCITY alert: the hour's window slides without any
    event, so these are judged again now and then."""
    rows = await conn.execute(
        text(
            "SELECT product_id, warehouse_id FROM alerts"
            " WHERE kind = 'HIGH_VELOCITY' AND status <> 'RESOLVED'"
            "   AND product_id IS NOT NULL AND warehouse_id IS NOT NULL"
        )
    )
    return [(row.product_id, row.warehouse_id) for row in rows]
