"""A bulk change raises stock alerts in bulk: one summary alert naming how many levels and how
to list them, not one alert per level; a small change still raises one alert per level."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.alerts import RESOLVE, alerts, settled
from support.client import Client
from support.imports import import_csv

HEADER = "SKU,ProductName,WarehouseCode,Quantity,SafetyStock,ReorderPoint,ReorderQuantity\n"


def rows(prefix: str, count: int, quantity: int) -> str:
    return HEADER + "".join(
        f"{prefix}-{n:03},{prefix} {n},DC-1,{quantity},0,0,0\n" for n in range(count)
    )


async def raised_events(engine: AsyncEngine, kind: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE topic = 'ALERT_RAISED'"
                " AND payload->>'kind' = :kind"
            ),
            {"kind": kind},
        )
        return int(found.scalar_one())


async def test_an_import_leaving_many_levels_low_raises_one_summary(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.warehouse(admin, "DC-1")
    done = await import_csv(admin, rows("BULK", 80, 3), createMissingProducts=True)
    assert done["errors"] == []
    await settled(engine)
    [summary] = await alerts(admin, kind=["LOW_STOCK"])
    assert summary["status"] == "OPEN"
    assert summary["severity"] == "MEDIUM"
    assert summary["product"] is None
    details = summary["details"]
    assert details["summary"] is True
    assert (details["levels"], details["products"]) == (80, 80)
    assert "80 levels of 80 products went low on stock" in summary["message"]
    assert "inventoryLevels(availableAtMost: 10)" in summary["message"]
    assert len(details["sample"]) == 20
    # Ids as the API gives them, so that a client can look the products up.
    assert len(details["productIds"]) == 80
    [dc1] = details["warehouseIds"]
    assert dc1 == (await admin('{ warehouse(code: "DC-1") { id } }'))["warehouse"]["id"]
    assert all(" is low at DC-1 (available 3" in line for line in details["sample"])
    # Subscribers and webhooks hear of the summary once, not of 80 alerts.
    assert await raised_events(engine, "LOW_STOCK") == 1
    # The way it names lists the levels.
    listed = await admin("{ inventoryLevels(availableAtMost: 10, first: 100) { totalCount } }")
    assert listed["inventoryLevels"]["totalCount"] == 80
    # No one level clears it: an operator resolves it once dealt with.
    resolved = await admin(RESOLVE, {"id": summary["id"]})
    assert resolved["resolveAlert"]["errors"] == []
    assert resolved["resolveAlert"]["alert"]["status"] == "RESOLVED"


async def test_a_small_change_still_raises_one_alert_per_level(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.warehouse(admin, "DC-1")
    done = await import_csv(admin, rows("FEW", 5, 2), createMissingProducts=True)
    assert done["errors"] == []
    await settled(engine)
    found = await alerts(admin, kind=["LOW_STOCK"])
    assert sorted(a["product"]["sku"] for a in found) == [f"FEW-{n:03}" for n in range(5)]
    assert all(not a["details"].get("summary") for a in found)
    assert all("(available 2, threshold 10)" in a["message"] for a in found)
    assert await raised_events(engine, "LOW_STOCK") == 5
