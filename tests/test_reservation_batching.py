"""Reservations written in batches (the default): one caller's retries of the same requests,
arriving together on one hot SKU from many connections, each take effect once, and two
batches in flight for one caller never deadlock on idempotency keys they share."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support import factories
from support.channels import check_invariants, level
from support.client import Client, clients, operation, payload_of

KEYS = 12
COPIES = 4  # each request sent this many times at once


async def test_retries_of_one_callers_requests_arriving_together_each_take_effect_once(
    admin: Client, base_url: str, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "BATCH-1", {"DC-1": 100})
    requests = [
        {
            "sku": "BATCH-1",
            "warehouseCode": "DC-1",
            "quantity": 1 + n % 3,
            "referenceId": f"cart-{n}",
            "idempotencyKey": f"key-{n}",
        }
        for n in range(KEYS)
    ]
    # Every copy of every request, shuffled so that batches see the keys in different orders.
    sends = [request for request in requests for _ in range(COPIES)]
    random.Random(7).shuffle(sends)
    document = operation("CreateReservation")
    async with clients(base_url, admin.token or "", len(sends)) as made:
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    payload_of(client, "createReservation", document, {"input": request})
                    for client, request in zip(made, sends, strict=True)
                )
            ),
            timeout=60,
        )

    by_key: dict[str, set[str]] = defaultdict(set)
    for request, answer in zip(sends, answers, strict=True):
        assert answer["errors"] == [], answer
        by_key[request["idempotencyKey"]].add(answer["reservation"]["id"])
    # One reservation per key, the same one answered to every copy.
    assert all(len(found) == 1 for found in by_key.values()), by_key
    assert len({next(iter(found)) for found in by_key.values()}) == KEYS
    async with engine.connect() as conn:
        made_count = (
            await conn.execute(text("SELECT count(*) FROM reservations WHERE status = 'ACTIVE'"))
        ).scalar_one()
    assert made_count == KEYS
    assert (await level(engine, "BATCH-1", "DC-1"))["reserved"] == sum(
        r["quantity"] for r in requests
    )
    await check_invariants(engine)
