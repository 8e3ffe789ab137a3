"""Group commit of adjustments on one hot level: concurrent requests share transactions, yet
each succeeds or fails on its own, and a refused one leaves no trace."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.client import Client, clients, payload_of
from support.factories import ADJUST

CLIENTS = 40


async def test_concurrent_adjustments_of_one_level_share_transactions_and_fail_alone(
    admin: Client, base_url: str, tokens: dict[Any, str], engine: AsyncEngine
) -> None:
    warehouse = await factories.warehouse(admin, "DC-1")
    product = await factories.product(admin, "HOT-1")
    await factories.level(admin, product["id"], warehouse["id"], 10)
    # 40 clients at once on one level: removing 1 unit each from 10, every fifth one asking
    # for 1,000 (always refused), so that refusals sit in the same batches as successes.
    adjustments = [-1000 if n % 5 == 0 else -1 for n in range(CLIENTS)]
    async with clients(base_url, admin.token, CLIENTS) as made:
        payloads = await asyncio.gather(
            *(
                payload_of(
                    client,
                    "adjustInventory",
                    ADJUST,
                    {
                        "input": {
                            "productId": product["id"],
                            "warehouseId": warehouse["id"],
                            "adjustment": delta,
                            "reason": "SALE",
                        }
                    },
                )
                for client, delta in zip(made, adjustments, strict=True)
            )
        )
    succeeded = [p for p in payloads if not p["errors"]]
    refused = [p for p in payloads if p["errors"]]
    assert len(succeeded) == 10  # exactly the 10 units there were
    assert all(p["errors"][0]["code"] == "INSUFFICIENT_STOCK" for p in refused)
    assert sum(1 for p in refused if p["errors"][0]["requested"] == 1000) == CLIENTS // 5
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*), count(DISTINCT recorded_at), sum(d_on_hand)"
                " FROM inventory_movements WHERE type <> 'INITIAL'"
            )
        )
        movements, transactions, total = found.one()
        level = await conn.execute(text("SELECT on_hand FROM inventory_levels"))
        on_hand = level.scalar_one()
    assert (movements, total, on_hand) == (10, -10, 0)
    # recorded_at is the transaction's start (now()): fewer distinct values than movements
    # means several were written by one transaction, i.e. they were coalesced.
    assert transactions < movements
    versions = sorted(p["inventoryLevel"]["version"] for p in succeeded)
    assert len(set(versions)) == 10  # each success saw its own version of the level
