"""Channels and reservations for tests: made through the API, and the invariants every test of
them ends by checking against the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.client import Client, operation

FEED = operation("ChannelFeed")
STATUS = operation("ChannelSyncStatus")


async def channel(
    admin: Client, code: str, warehouses: list[str] | None = None, **values: Any
) -> dict[str, Any]:
    data = await admin.mutate(
        "createChannel",
        operation("CreateChannel"),
        {
            "input": {
                "code": code,
                "name": f"Channel {code}",
                "warehouseCodes": warehouses or [],
                **values,
            }
        },
    )
    return dict(data["channel"])


async def shop(admin: Client, code: str = "MARKET", **values: Any) -> None:
    """Products A..E at DC-1 (the channel's warehouse), C also at DC-2 (not the channel's),
    F only at DC-2."""
    await factories.stocked(admin, "FEED-A", {"DC-1": 10})
    await factories.stocked(admin, "FEED-B", {"DC-1": 20})
    await factories.stocked(admin, "FEED-C", {"DC-1": 3, "DC-2": 40})
    await factories.stocked(admin, "FEED-D", {"DC-1": 8})
    await factories.stocked(admin, "FEED-E", {"DC-1": 6})
    await factories.stocked(admin, "FEED-F", {"DC-2": 50})
    await channel(admin, code, ["DC-1"], kind="BATCH", safetyBufferPercent=0, **values)


def values(page: dict[str, Any]) -> dict[str, int]:
    return {item["sku"]: item["availableToSell"] for item in page["items"]}


async def reserve(client: Client, **values: Any) -> dict[str, Any]:
    """createReservation's payload (errors included)."""
    body = await client(operation("CreateReservation"), {"input": values})
    return dict(body["createReservation"])


async def sell(
    client: Client, channel_code: str, quantity: int, days_ago: float, sku: str = "SKU-1"
) -> None:
    """A sale on a channel, `days_ago` in the past: an order reservation, then fulfilled."""
    made = await reserve(client, sku=sku, quantity=quantity, type="ORDER", channelCode=channel_code)
    when = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    await client.mutate(
        "fulfillReservation",
        operation("FulfillReservation"),
        {"input": {"id": made["reservation"]["id"], "timestamp": when}},
    )


async def reserve_cart(client: Client, **values: Any) -> dict[str, Any]:
    body = await client(operation("ReserveCart"), {"input": values})
    return dict(body["reserveCart"])


async def ats(client: Client, channel_code: str, sku: str) -> dict[str, Any]:
    found = await client(
        operation("ChannelInventory"), {"channelCode": channel_code, "skus": [sku]}
    )
    [entry] = found["channelInventory"]
    return dict(entry)


async def level(engine: AsyncEngine, sku: str, warehouse: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT l.* FROM inventory_levels l JOIN products p ON p.id = l.product_id"
                    " JOIN warehouses w ON w.id = l.warehouse_id"
                    " WHERE p.sku = :sku AND w.code = :code"
                ),
                {"sku": sku, "code": warehouse},
            )
        ).one()
    return dict(row._mapping)


# Every bucket is the sum of its ledger deltas.
_LEDGER_MISMATCHES = """
SELECT l.id FROM inventory_levels l
LEFT JOIN (SELECT level_id, sum(d_on_hand) AS on_hand, sum(d_reserved) AS reserved,
    sum(d_committed) AS committed FROM inventory_movements GROUP BY level_id) m
    ON m.level_id = l.id
WHERE l.on_hand <> coalesce(m.on_hand, 0) OR l.reserved <> coalesce(m.reserved, 0)
   OR l.committed <> coalesce(m.committed, 0)
"""
# reserved and committed are the sums of the active reservations.
_RESERVATION_MISMATCHES = """
SELECT l.id FROM inventory_levels l
LEFT JOIN (SELECT product_id, warehouse_id,
        sum(quantity - fulfilled_quantity) FILTER (WHERE type <> 'ORDER') AS reserved,
        sum(quantity - fulfilled_quantity) FILTER (WHERE type = 'ORDER') AS committed
    FROM reservations WHERE status = 'ACTIVE' GROUP BY product_id, warehouse_id) r
    ON r.product_id = l.product_id AND r.warehouse_id = l.warehouse_id
WHERE l.reserved <> coalesce(r.reserved, 0) OR l.committed <> coalesce(r.committed, 0)
"""
# A channel's held is the sum of its active reservations.
_HELD_MISMATCHES = """
SELECT ci.id FROM channel_inventory ci
LEFT JOIN (SELECT channel_id, product_id, sum(quantity - fulfilled_quantity) AS held
    FROM reservations WHERE status = 'ACTIVE' AND channel_id IS NOT NULL
    GROUP BY channel_id, product_id) r
    ON r.channel_id = ci.channel_id AND r.product_id = ci.product_id
WHERE ci.held <> coalesce(r.held, 0)
"""
# Each reservation's ledger rows add up to what it holds now.
_RESERVATION_LEDGER = """
SELECT r.id FROM reservations r
LEFT JOIN (SELECT reservation_id, sum(d_reserved + d_committed) AS held
    FROM inventory_movements WHERE reservation_id IS NOT NULL GROUP BY reservation_id) m
    ON m.reservation_id = r.id
WHERE coalesce(m.held, 0) <> CASE WHEN r.status = 'ACTIVE'
    THEN r.quantity - r.fulfilled_quantity ELSE 0 END
"""
_NEGATIVE = """
SELECT id FROM inventory_levels
WHERE on_hand < 0 OR reserved < 0 OR committed < 0 OR available < 0
"""


async def check_invariants(engine: AsyncEngine) -> None:
    """The ledger and the active reservations explain every quantity; nothing is negative."""
    async with engine.connect() as conn:
        for name, query in (
            ("levels differ from their ledger", _LEDGER_MISMATCHES),
            ("levels differ from their active reservations", _RESERVATION_MISMATCHES),
            ("channels' held differ from their reservations", _HELD_MISMATCHES),
            ("reservations differ from their ledger rows", _RESERVATION_LEDGER),
            ("negative quantities", _NEGATIVE),
        ):
            bad = (await conn.execute(text(query))).scalars().all()
            assert not bad, f"{name}: {bad}"


async def age_allocation(engine: AsyncEngine, channel_code: str, days: int) -> None:
    """Make the channel's allocations `days` old, as if set that long ago."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE channel_inventory SET allocated_since = now() - make_interval(days => :d)"
                " WHERE channel_id = (SELECT id FROM channels WHERE code = :code)"
            ),
            {"d": days, "code": channel_code},
        )
