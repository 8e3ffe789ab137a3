"""Bulk changes raise stock alerts in bulk: one summary, not thousands.

An import of 50,000 levels, or a bulk adjustment, may leave thousands of levels low or out of
stock at once. An operator cannot act on 12,000 alerts; they can act on "12,000 levels are low
after this change: here is how to list them". So when one evaluation (a batch of published
events) would raise more LOW_STOCK or OUT_OF_STOCK alerts than the bulk threshold, those alerts
are not kept: one summary alert of that kind is raised instead (subject `bulk:<kind>`), naming
how many levels and products, the events' range and a sample, and saying how to list them.
While a summary was updated in the last minute, further evaluations of the same bulk change
(it spans many batches) fold into it instead of raising their own. A change below the
threshold raises its alerts one by one, as ever.

The levels themselves are not forgotten: each is judged again on its next change, and the
summary is resolved by an operator once dealt with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.alerts.model import SEVERITY, Alert, AlertKind, AlertStatus

BULK_KINDS = (AlertKind.OUT_OF_STOCK, AlertKind.LOW_STOCK)
SAMPLE = 20
# A summary updated this recently is the same bulk change still being evaluated.
CONTINUES_WITHIN = "1 minute"


def list_hint(kind: AlertKind, low_at: int) -> str:
    """A query that lists the summarised levels (with any others in the same state)."""
    if kind == AlertKind.OUT_OF_STOCK:
        return "inventoryLevels(belowSafetyStock: true, includeZero: true)"
    return f"inventoryLevels(availableAtMost: {low_at})"


_OPEN_SUMMARY = text(
    f"""
    SELECT * FROM alerts
    WHERE kind = :kind AND subject = :subject AND status <> 'RESOLVED'
      AND (details ->> 'updatedAt')::timestamptz > now() - interval '{CONTINUES_WITHIN}'
    FOR UPDATE
    """
)
_RAISE_SUMMARY = text(
    """
    INSERT INTO alerts (kind, severity, subject, message, details)
    VALUES (:kind, :severity, :subject, :message, CAST(:details AS jsonb))
    ON CONFLICT (kind, subject) WHERE status <> 'RESOLVED'
    DO UPDATE SET message = EXCLUDED.message, details = EXCLUDED.details
    RETURNING *
    """
)


def summary_subject(kind: str) -> str:
    return f"bulk:{kind}"


async def summarise(
    conn: AsyncConnection,
    changed: Sequence[Alert],
    threshold: int,
    first_sequence: int,
    last_sequence: int,
    low_at: int = 10,
) -> list[Alert]:
    """`changed` with bulk-raised stock alerts replaced by their kind's summary (a new one
    raised, or an open one updated). Threshold 0: never summarise."""
    if threshold <= 0:
        return list(changed)
    kept = list(changed)
    for kind in BULK_KINDS:
        raised = [a for a in kept if a.kind == kind and a.status != AlertStatus.RESOLVED]
        if not raised:
            continue
        subject = summary_subject(kind)
        found = (await conn.execute(_OPEN_SUMMARY, {"kind": kind, "subject": subject})).first()
        if found is None and len(raised) <= threshold:
            continue
        await conn.execute(
            text("DELETE FROM alerts WHERE id = ANY(CAST(:ids AS bigint[]))"),
            {"ids": [a.id for a in raised]},
        )
        before: dict[str, Any] = dict(found.details) if found is not None else {}
        hint = list_hint(kind, max([low_at, *(_threshold(a) for a in raised)]))
        summary = await _raise(
            conn, kind, subject, raised, before, (first_sequence, last_sequence), hint
        )
        kept = [a for a in kept if a not in raised]
        if found is None:  # a new summary is news; a growing one is not news again
            kept.append(summary)
    return kept


async def _raise(
    conn: AsyncConnection,
    kind: AlertKind,
    subject: str,
    raised: Sequence[Alert],
    before: dict[str, Any],
    sequences: tuple[int, int],
    hint: str,
) -> Alert:
    first_sequence, last_sequence = sequences
    levels = int(before.get("levels", 0)) + len(raised)
    products = sorted(
        set(before.get("productIds", [])) | {a.product_id for a in raised if a.product_id}
    )
    sample = (before.get("sample") or []) + [a.message for a in raised]
    details = {
        "summary": True,
        "levels": levels,
        "products": len(products),
        "productIds": products[:1000],
        "warehouseIds": sorted(
            set(before.get("warehouseIds", [])) | {a.warehouse_id for a in raised if a.warehouse_id}
        ),
        "firstSequence": before.get("firstSequence", first_sequence),
        "lastSequence": last_sequence,
        "sample": sample[:SAMPLE],
        "list": hint,
        "updatedAt": (await conn.execute(text("SELECT now()"))).scalar_one().isoformat(),
    }
    state = "out of stock" if kind == AlertKind.OUT_OF_STOCK else "low on stock"
    message = (
        f"{levels:,} levels of {len(products):,} products went {state} in one bulk change"
        f" (events {details['firstSequence']}-{last_sequence}); list them with"
        f" {hint}"
    )
    row = (
        await conn.execute(
            _RAISE_SUMMARY,
            {
                "kind": kind,
                "severity": SEVERITY[kind],
                "subject": subject,
                "message": message,
                "details": json.dumps(details, default=str),
            },
        )
    ).one()
    return Alert.from_row(row)


def _threshold(alert: Alert) -> int:
    found = alert.details.get("threshold") if isinstance(alert.details, dict) else None
    return found if isinstance(found, int) else 0
