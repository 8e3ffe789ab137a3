"""Demand-driven safety buffers: a channel's buffer per product computed from its recent sales
on that channel and their variability (z * daily deviation * sqrt(lead time), with a floor
and a cap), readable with its inputs, recomputed on demand and on a schedule, and kept back
by available-to-sell and reservations through the buffer every channel already has."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.channels.demand_buffers import recompute_next_due
from support import channels, factories
from support.client import Client

POLICY = """
mutation($input: SetChannelDemandBufferInput!) {
  setChannelDemandBuffer(input: $input) {
    policy { enabled serviceLevel lookbackDays leadTimeDays minimumBuffer maximumBuffer version
      recomputedAt }
    productCount changedCount
    errors { field code message currentVersion }
  }
}"""
RECOMPUTE = """
mutation($input: RecomputeDemandBuffersInput!) {
  recomputeDemandBuffers(input: $input) { productCount changedCount errors { field code } }
}"""
BUFFERS = """
query($code: String, $skus: [String!]) {
  channelDemandBuffers(channelCode: $code, skus: $skus) {
    policy { serviceLevel }
    buffers { nodes { product { sku } buffer unitsSold meanDailyDemand dailyDeviation days
      serviceLevel z leadTimeDays } }
  }
}"""
SALE = """
mutation($input: AdjustInventoryInput!) { adjustInventory(input: $input) { errors { code } } }
"""
SKUS = ["DB-STEADY", "DB-SWINGS", "DB-IDLE"]


async def sell(client: Client, sku: str, units: int, days_ago: float) -> None:
    when = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    sale = {
        "sku": sku,
        "warehouseCode": "DC-1",
        "adjustment": -units,
        "reason": "SALE",
        "channelCode": "WEB",
        "timestamp": when,
    }
    await client.mutate("adjustInventory", SALE, {"input": sale})


def expected_buffer(daily: list[int], service_level: float, lead_days: float) -> int:
    """The documented formula, worked out independently of the server's arithmetic."""
    z = statistics.NormalDist().inv_cdf(service_level)
    return max(1, math.ceil(round(z * statistics.stdev(daily) * math.sqrt(lead_days), 9)))


async def setup(admin: Client, operator: Client) -> None:
    """Three products at DC-1 (100 each), sold on WEB over the last four days: one steadily
    (2 a day), one in swings (4, 0, 2, 0), one not at all."""
    for sku in SKUS:
        await factories.stocked(admin, sku, {"DC-1": 100})
    await channels.channel(admin, "WEB", ["DC-1"], safetyBufferPercent=5)
    for day in range(4):
        await sell(operator, "DB-STEADY", 2, day + 0.5)
    await sell(operator, "DB-SWINGS", 4, 0.5)
    await sell(operator, "DB-SWINGS", 2, 2.5)


async def set_policy(client: Client, **values: Any) -> dict[str, Any]:
    found = await client(POLICY, {"input": {"channelCode": "WEB", **values}})
    return dict(found["setChannelDemandBuffer"])


async def buffers(client: Client) -> dict[str, dict[str, Any]]:
    found = await client(BUFFERS, {"code": "WEB"})
    nodes = found["channelDemandBuffers"]["buffers"]["nodes"]
    return {n["product"]["sku"]: n for n in nodes}


async def test_buffers_follow_demand_and_its_swings(
    admin: Client, operator: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await setup(admin, operator)
    before = await channels.ats(operator, "WEB", "DB-SWINGS")
    assert before["bufferQuantity"] == 5  # 5% of 94, rounded up

    done = await set_policy(admin, serviceLevel=0.95, lookbackDays=4, leadTimeDays=1)
    assert done["errors"] == []
    assert (done["productCount"], done["changedCount"]) == (3, 3)
    assert done["policy"]["recomputedAt"] is not None
    found = await buffers(operator)
    swings = found["DB-SWINGS"]
    assert (swings["unitsSold"], swings["days"], swings["meanDailyDemand"]) == (6, 4, 1.5)
    assert math.isclose(swings["dailyDeviation"], statistics.stdev([4, 0, 2, 0]))
    assert math.isclose(swings["z"], 1.6448536, rel_tol=1e-6)
    assert swings["buffer"] == expected_buffer([4, 0, 2, 0], 0.95, 1) == 4
    assert found["DB-STEADY"]["dailyDeviation"] == 0
    assert found["DB-STEADY"]["buffer"] == 1  # steady: only the floor
    assert found["DB-IDLE"]["buffer"] == 1

    # Available-to-sell keeps the computed buffer back, and reservations cannot pass it.
    ats = await channels.ats(operator, "WEB", "DB-SWINGS")
    assert (ats["bufferQuantity"], ats["physicalAvailable"], ats["availableToSell"]) == (4, 94, 90)
    feed = (await operator(channels.FEED, {"channelCode": "WEB"}))["channelFeed"]
    assert channels.values(feed) == {"DB-STEADY": 91, "DB-SWINGS": 90, "DB-IDLE": 99}
    refused = await channels.reserve(
        storefront, sku="DB-SWINGS", quantity=91, type="CART", channelCode="WEB"
    )
    [error] = refused["errors"]
    assert (error["code"], error["available"]) == ("INSUFFICIENT_STOCK", 90)

    # A longer lead time keeps more back; a cap bounds it.
    done = await set_policy(admin, lookbackDays=4, leadTimeDays=4, maximumBuffer=6)
    assert done["changedCount"] == 1
    assert (await buffers(operator))["DB-SWINGS"]["buffer"] == min(
        6, expected_buffer([4, 0, 2, 0], 0.95, 4)
    )
    assert (await channels.ats(operator, "WEB", "DB-SWINGS"))["bufferQuantity"] == 6

    # New sales change it when recomputed.
    await sell(operator, "DB-STEADY", 10, 1.5)
    done = (await admin(RECOMPUTE, {"input": {"channelCode": "WEB"}}))["recomputeDemandBuffers"]
    assert (done["errors"], done["changedCount"]) == ([], 1)
    steady = (await buffers(operator))["DB-STEADY"]
    assert steady["buffer"] == min(6, expected_buffer([2, 12, 2, 2], 0.95, 4))

    async with engine.connect() as conn:
        reasons = (
            await conn.execute(
                text(
                    "SELECT payload->>'reason', count(*) FROM outbox"
                    " WHERE topic = 'CHANNEL_ALLOCATION_CHANGED' GROUP BY 1"
                )
            )
        ).all()
        runs = (
            await conn.execute(
                text("SELECT count(*) FROM outbox WHERE topic = 'DEMAND_BUFFERS_RECOMPUTED'")
            )
        ).scalar_one()
    assert dict(reasons) == {"DEMAND_BUFFER": 5}
    assert runs == 3

    # Off: the percent buffer is back.
    done = await set_policy(admin, enabled=False)
    assert done["policy"]["enabled"] is False
    assert (await channels.ats(operator, "WEB", "DB-SWINGS"))["bufferQuantity"] == 5
    assert await buffers(operator) == {}


async def test_bad_policies_are_refused_and_change_nothing(admin: Client, operator: Client) -> None:
    await setup(admin, operator)
    for values, field in (
        ({"serviceLevel": 1.2}, "serviceLevel"),
        ({"lookbackDays": 1}, "lookbackDays"),
        ({"leadTimeDays": 0}, "leadTimeDays"),
        ({"minimumBuffer": 5, "maximumBuffer": 2}, "maximumBuffer"),
        ({"expectedVersion": 3}, "expectedVersion"),
    ):
        done = await set_policy(admin, **values)
        assert [(e["field"], e["code"]) for e in done["errors"]] in (
            [(field, "INVALID")],
            [(field, "VERSION_CONFLICT")],
        ), values
    found = (await operator(BUFFERS, {"code": "WEB"}))["channelDemandBuffers"]
    assert found["policy"] is None
    assert (await channels.ats(operator, "WEB", "DB-SWINGS"))["bufferQuantity"] == 5
    done = (await admin(RECOMPUTE, {"input": {"channelCode": "WEB"}}))["recomputeDemandBuffers"]
    assert [(e["field"], e["code"]) for e in done["errors"]] == [("channelCode", "INVALID")]
    done = (await admin(RECOMPUTE, {"input": {"channelCode": "NOPE"}}))["recomputeDemandBuffers"]
    assert [e["code"] for e in done["errors"]] == ["NOT_FOUND"]


async def test_the_schedule_recomputes_each_channel_once_per_interval(
    admin: Client, operator: Client, engine: AsyncEngine
) -> None:
    await setup(admin, operator)
    await set_policy(admin, lookbackDays=4)
    await sell(operator, "DB-STEADY", 10, 1.5)
    async with engine.begin() as conn:
        assert await recompute_next_due(conn, 60) is False  # computed a moment ago
    async with engine.begin() as conn:
        assert await recompute_next_due(conn, 0) is True
    assert (await buffers(operator))["DB-STEADY"]["buffer"] == expected_buffer(
        [2, 12, 2, 2], 0.95, 1
    )
    async with engine.connect() as conn:
        triggers = (
            (
                await conn.execute(
                    text(
                        "SELECT payload->>'trigger' FROM outbox"
                        " WHERE topic = 'DEMAND_BUFFERS_RECOMPUTED' ORDER BY id"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert triggers == ["MANUAL", "SCHEDULED"]
