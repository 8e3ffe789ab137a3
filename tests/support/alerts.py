"""Alerts for tests: listing and resolving them through the API, and waiting until the
evaluator has judged every event committed so far."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support.client import Client

ALERTS = """
query($filter: AlertFilterInput, $first: Int) {
  alerts(filter: $filter, first: $first) {
    totalCount
    nodes {
      id kind severity status message quantity threshold reorderQuantity details
      raisedAt acknowledgedAt acknowledgedBy resolvedAt resolvedBy
      product { sku } warehouse { code } channel { code }
    }
  }
}"""
RESOLVE = """
mutation($id: ID!) {
  resolveAlert(input: {alertId: $id}) {
    alert { id status resolvedAt resolvedBy }
    errors { field code message }
  }
}"""


async def alerts(client: Client, **filter: Any) -> list[dict[str, Any]]:
    data = await client(ALERTS, {"filter": filter, "first": 100})
    return list(data["alerts"]["nodes"])


async def settled(engine: AsyncEngine, seconds: float = 15) -> None:
    """Wait until the evaluator has judged every event committed so far (its own included)."""
    async with asyncio.timeout(seconds):
        while True:
            async with engine.connect() as conn:
                behind = (
                    await conn.execute(
                        text(
                            "SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)"
                            " OR (SELECT last_sequence FROM alert_cursor)"
                            "  < (SELECT last_sequence FROM outbox_cursor)"
                        )
                    )
                ).scalar()
            if not behind:
                return
            await asyncio.sleep(0.02)
