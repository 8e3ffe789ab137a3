"""How healthy each warehouse's stock is: its levels counted as out of stock, low, or healthy.

The rules are the stock alerts' own (inventory/alerts/rules.py), so a warehouse showing three
levels out of stock has three OUT_OF_STOCK alerts open once the evaluator has caught up:

- out of stock: available <= 0;
- low: 0 < available <= the level's safety stock, or the low-stock threshold when it has none;
- healthy: the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class StockHealth:
    warehouse_id: int
    levels: int
    out_of_stock: int
    low_stock: int

    @property
    def healthy(self) -> int:
        return self.levels - self.out_of_stock - self.low_stock


# One pass over the warehouses' levels, counted per warehouse.
_COUNT = text(
    """
    SELECT warehouse_id, count(*) AS levels,
        count(*) FILTER (WHERE available <= 0) AS out_of_stock,
        count(*) FILTER (
            WHERE available > 0 AND available <=
                CASE WHEN safety_stock > 0 THEN safety_stock ELSE CAST(:low AS integer) END
        ) AS low_stock
    FROM inventory_levels
    WHERE warehouse_id = ANY(CAST(:ids AS bigint[]))
    GROUP BY warehouse_id
    """
)


async def stock_health_by_warehouses(
    conn: AsyncConnection, warehouse_ids: Sequence[int], low_stock_threshold: int
) -> dict[int, StockHealth]:
    """Each warehouse's counts (zeros for one with no levels)."""
    rows = await conn.execute(_COUNT, {"ids": list(warehouse_ids), "low": low_stock_threshold})
    found = {
        row.warehouse_id: StockHealth(row.warehouse_id, row.levels, row.out_of_stock, row.low_stock)
        for row in rows
    }
    return {wid: found.get(wid) or StockHealth(wid, 0, 0, 0) for wid in warehouse_ids}
