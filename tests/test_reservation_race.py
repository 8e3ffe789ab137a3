"""200 carts race for the last 50 units of a SKU through two real server processes sharing the
database (one writing reservations in batches, the other one by one): exactly 50 units are
reserved, nothing goes negative, available-to-sell never does, and the ledger and the active
reservations explain every quantity."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from support import factories
from support.channels import channel, check_invariants, level
from support.client import Client, operation
from support.processes import onhand_server

pytestmark = pytest.mark.slow

CARTS = 200
UNITS = 50
SMALL_POOL = {"ONHAND_DB_POOL_SIZE": "4", "ONHAND_DB_MAX_OVERFLOW": "2"}


@pytest.fixture(scope="module")
def servers(database_url: str) -> Iterator[list[str]]:
    """Two `onhand serve` processes on the test database: one coalesces reservations, the
    other writes each in its own transaction."""
    with (
        onhand_server(database_url, ONHAND_RUN_WORKERS_IN_SERVER="false", **SMALL_POOL) as one,
        onhand_server(
            database_url,
            ONHAND_RUN_WORKERS_IN_SERVER="false",
            ONHAND_COALESCE_RESERVATIONS="false",
            **SMALL_POOL,
        ) as two,
    ):
        yield [one, two]


async def test_200_carts_race_for_the_last_50_units_through_two_servers(
    admin: Client, engine: AsyncEngine, servers: list[str], tokens: dict[Role, str]
) -> None:
    await factories.stocked(admin, "SKU-RACE", {"DC-1": UNITS, "DC-2": 30})
    await factories.stocked(admin, "SKU-PLENTY", {"DC-1": 1000})
    # The channel sells from DC-1 only: its last 50 units, although DC-2 has more.
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)

    clients = [
        httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=100))
        for url in servers
    ]
    shoppers = [Client(http, tokens[Role.STOREFRONT]) for http in clients]
    seen: list[int] = []
    racing = True

    async def cart(index: int) -> dict[str, Any]:
        body = await shoppers[index % 2](
            operation("ReserveCart"),
            {
                "input": {
                    "referenceId": f"cart-{index}",
                    "channelCode": "WEBSITE",
                    "lines": [
                        {"sku": "SKU-RACE", "quantity": 1},
                        {"sku": "SKU-PLENTY", "quantity": 1},
                    ],
                }
            },
        )
        return dict(body["reserveCart"])

    async def watch(index: int) -> None:
        while racing:
            found = await shoppers[index % 2](
                operation("ChannelInventory"), {"channelCode": "WEBSITE", "skus": ["SKU-RACE"]}
            )
            seen.append(found["channelInventory"][0]["availableToSell"])
            await asyncio.sleep(0)

    try:
        watchers = [asyncio.create_task(watch(i)) for i in range(4)]
        results = await asyncio.gather(*(cart(i) for i in range(CARTS)))
        racing = False
        await asyncio.gather(*watchers)
    finally:
        for http in clients:
            await http.aclose()

    won = [r for r in results if r["success"]]
    lost = [r for r in results if not r["success"]]
    assert len(won) == UNITS
    assert len(lost) == CARTS - UNITS
    assert all(len(r["reservations"]) == 2 for r in won)
    assert {(e["field"], e["code"]) for r in lost for e in r["errors"]} == {
        ("lines.0.quantity", "INSUFFICIENT_STOCK")
    }
    assert all(0 <= e["available"] < 1 for r in lost for e in r["errors"])
    assert all(r["reservations"] == [] for r in lost)

    raced = await level(engine, "SKU-RACE", "DC-1")
    assert (raced["on_hand"], raced["reserved"], raced["available"]) == (UNITS, UNITS, 0)
    untouched = await level(engine, "SKU-RACE", "DC-2")
    assert (untouched["reserved"], untouched["available"]) == (0, 30)
    plenty = await level(engine, "SKU-PLENTY", "DC-1")
    assert plenty["reserved"] == UNITS  # lost carts left nothing behind
    assert seen
    assert min(seen) >= 0
    assert max(seen) <= UNITS
    final = await admin(
        operation("ChannelInventory"), {"channelCode": "WEBSITE", "skus": ["SKU-RACE"]}
    )
    assert final["channelInventory"][0]["availableToSell"] == 0
    assert final["channelInventory"][0]["heldQuantity"] == UNITS
    await check_invariants(engine)
