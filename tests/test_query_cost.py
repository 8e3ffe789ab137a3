"""Query cost: every response reports what its operation was expected to cost and did cost,
and the token's bucket; a token spending faster than its bucket refills is THROTTLED (429 with
Retry-After) before anything runs, the bucket refills at its restore rate, one query costing
more than the bucket holds is refused outright, and server processes sharing Redis share one
bucket per token."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import CostLimit, Settings
from onhand.db.engine import create_engine
from support import factories
from support.client import Client, operation
from support.metrics import sample
from support.processes import onhand_server
from support.server import running_server
from support.ws import UPDATED, Subscriber

REDIS_URL = os.environ.get("ONHAND_TEST_REDIS_URL", "redis://127.0.0.1:6379")
NEW_MEDIA_TYPE = {"Accept": "application/graphql-response+json"}
ADJUST = operation("AdjustInventory")
# adjustInventory's base (10) and the three objects AdjustInventory.graphql selects.
ADJUST_COST = 13
VIEWER = "{ viewer { name } }"

# Tokens with buckets of their own on the limited server (overrides by token name).
BURST = f"burst-{uuid.uuid4().hex[:8]}"
REFILL = f"refill-{uuid.uuid4().hex[:8]}"
SUBSCRIBER = f"subscriber-{uuid.uuid4().hex[:8]}"
LIMITS = {
    BURST: CostLimit(maximum=60, restore_rate=5),
    REFILL: CostLimit(maximum=200, restore_rate=20),
    SUBSCRIBER: CostLimit(maximum=30, restore_rate=0.5),
}
# inventoryUpdated's event, its product and its warehouse.
UPDATED_COST = 3
# Every other token on the limited server.
DEFAULT_MAXIMUM = 500


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def limited(settings: Settings, database_url: str) -> Iterator[str]:
    small = settings.model_copy(
        update={
            "cost_limit_maximum": DEFAULT_MAXIMUM,
            "cost_limit_restore_rate": 50.0,
            "cost_limits": LIMITS,
        }
    )
    with running_server(small, database_url) as url:
        yield url


async def token(engine: AsyncEngine, name: str) -> str:
    async with engine.begin() as conn:
        return (await create_token(conn, name, Role.ADMIN)).secret


def cost_of(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["extensions"]["cost"])


async def test_a_nested_connection_costs_its_page_sizes_and_reports_what_it_returned(
    admin: Client,
) -> None:
    for code in ("COST-A", "COST-B"):
        await factories.warehouse(admin, code)
    for n in range(3):
        made = await factories.product(admin, f"COST-{n}")
        for code in ("COST-A", "COST-B"):
            found = await admin("query($c: String!) { warehouse(code: $c) { id } }", {"c": code})
            await factories.level(admin, made["id"], found["warehouse"]["id"], 5)
    query = (
        "query($levels: Int) { warehouses(first: 5) { nodes { code"
        " inventoryLevels(first: $levels) { nodes { available product { sku } } } }"
        " pageInfo { hasNextPage } } }"
    )
    body = await admin.raw(query, {"levels": 10})
    assert "errors" not in body
    assert [len(w["inventoryLevels"]["nodes"]) for w in body["data"]["warehouses"]["nodes"]] == [
        3,
        3,
    ]
    cost = cost_of(body)
    # The connection and pageInfo once; per warehouse (5 asked): itself, its levels
    # connection, and per level (10 asked) the level and its product.
    assert cost["requestedQueryCost"] == 1 + 5 * (1 + 1 + 10 * 2) + 1
    # What came back: 2 warehouses of 3 levels each.
    assert cost["actualQueryCost"] == 1 + 2 * (1 + 1 + 3 * 2) + 1
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 200_000
    assert status["restoreRate"] == 20_000
    assert 0 < status["currentlyAvailable"] <= 200_000

    # The variable's default page size (50) when it is left out.
    default = cost_of(await admin.raw(query))
    assert default["requestedQueryCost"] == 1 + 5 * (1 + 1 + 50 * 2) + 1
    assert default["actualQueryCost"] == cost["actualQueryCost"]

    # A mutation: its base and what its payload selects.
    adjusted = await admin.raw(
        ADJUST,
        {
            "input": {
                "sku": "COST-0",
                "warehouseCode": "COST-A",
                "adjustment": 1,
                "reason": "RECEIPT",
            }
        },
    )
    assert cost_of(adjusted)["requestedQueryCost"] == ADJUST_COST
    assert cost_of(adjusted)["actualQueryCost"] == ADJUST_COST


async def test_a_burst_beyond_the_bucket_is_throttled_and_the_refused_changes_nothing(
    limited: str, admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "BURST-1", {"DC-1": 100})
    secret = await token(engine, BURST)
    variables = {
        "input": {"sku": "BURST-1", "warehouseCode": "DC-1", "adjustment": 1, "reason": "RECEIPT"}
    }
    async with httpx.AsyncClient(base_url=limited, timeout=30) as http:

        async def throttled() -> float:
            metrics = (await http.get("/metrics")).text
            return sample(metrics, "onhand_cost_refusals_total", code="THROTTLED", role="ADMIN")

        before = await throttled()
        client = Client(http, secret, NEW_MEDIA_TYPE)
        responses = await asyncio.gather(*(client.post(ADJUST, variables) for _ in range(10)))
        accepted = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 429]
        assert len(accepted) + len(refused) == 10, [r.text for r in responses]
        # 60 holds four of them at 13, and a fifth with what refills meanwhile (5 a second).
        assert 4 <= len(accepted) <= 5, [r.text for r in responses]
        for response in accepted:
            assert response.json()["data"]["adjustInventory"]["errors"] == []
        for response in refused:
            body = response.json()
            assert "data" not in body
            [error] = body["errors"]
            extensions = error["extensions"]
            assert extensions["code"] == "THROTTLED"
            assert extensions["cost"]["requestedQueryCost"] == ADJUST_COST
            assert extensions["cost"]["throttleStatus"]["maximumAvailable"] == 60
            assert extensions["cost"]["throttleStatus"]["currentlyAvailable"] < ADJUST_COST
            assert 0 < extensions["retryAfterSeconds"] <= ADJUST_COST / 5
            assert int(response.headers["retry-after"]) >= extensions["retryAfterSeconds"]
            assert body["extensions"]["cost"]["actualQueryCost"] == 0

        # Only what was accepted changed the stock.
        level = await admin(
            '{ inventoryLevel(sku: "BURST-1", warehouseCode: "DC-1") { quantity } }'
        )
        assert level["inventoryLevel"]["quantity"] == 100 + len(accepted)

        # A legacy client gets its 200 with the same coded error, and Retry-After too.
        legacy = await Client(http, secret).post(ADJUST, variables)
        assert legacy.status_code == 200
        assert legacy.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
        # Operators see every refusal in /metrics, by code and role.
        assert await throttled() == before + len(refused) + 1
        wait = legacy.json()["errors"][0]["extensions"]["retryAfterSeconds"]
        assert "retry-after" in legacy.headers

        # Once the bucket has refilled for as long as it said, the request goes through.
        await asyncio.sleep(wait + 0.1)
        retried = await client.post(ADJUST, variables)
        assert retried.status_code == 200, retried.text
        assert retried.json()["data"]["adjustInventory"]["errors"] == []


async def test_the_bucket_refills_at_its_restore_rate(limited: str, engine: AsyncEngine) -> None:
    secret = await token(engine, REFILL)
    unknown = {
        "input": {
            "sku": "NO-SUCH",
            "warehouseCode": "NOWHERE",
            "adjustment": 1,
            "reason": "RECEIPT",
        }
    }
    async with httpx.AsyncClient(base_url=limited, timeout=30) as http:
        client = Client(http, secret)
        for _ in range(14):  # refused by the domain, but each costs its base and its errors
            await client.raw(ADJUST, unknown)

        async def available() -> tuple[float, float, int]:
            sent = time.monotonic()
            body = await client.raw(VIEWER)
            return sent, time.monotonic(), cost_of(body)["throttleStatus"]["currentlyAvailable"]

        first_sent, first_answered, before = await available()
        assert before < 100  # drained well below the 200 the bucket holds
        await asyncio.sleep(2.0)
        second_sent, second_answered, after = await available()
    rate = LIMITS[REFILL].restore_rate
    # Between the two answers the bucket gained rate x the time between them, less the
    # second query's cost (1); the server's moments lie within the client's.
    gained = after - before + 1
    assert rate * (second_sent - first_answered) - 2 <= gained
    assert gained <= rate * (second_answered - first_sent) + 2


async def test_a_query_costing_more_than_the_bucket_holds_is_refused(
    limited: str, engine: AsyncEngine
) -> None:
    secret = await token(engine, f"costly-{uuid.uuid4().hex[:8]}")
    query = "{ warehouses(first: 100) { nodes { inventoryLevels(first: 100) { nodes { id } } } } }"
    async with httpx.AsyncClient(base_url=limited, timeout=30) as http:
        client = Client(http, secret, NEW_MEDIA_TYPE)
        response = await client.post(query)
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
        assert error["extensions"]["maximumCost"] == DEFAULT_MAXIMUM
        assert error["extensions"]["cost"]["requestedQueryCost"] == 1 + 100 * (1 + 1 + 100)
        assert f"{DEFAULT_MAXIMUM:,}" in error["message"]
        # Nothing was taken from the bucket for it.
        body = await client.raw(VIEWER)
        assert cost_of(body)["throttleStatus"]["currentlyAvailable"] >= DEFAULT_MAXIMUM - 2


async def test_a_subscription_is_charged_once_when_it_starts(
    limited: str, admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SUB-1", {"DC-1": 10})
    secret = await token(engine, SUBSCRIBER)
    async with (
        Subscriber(limited, secret) as subscriber,
        httpx.AsyncClient(base_url=limited, timeout=30) as http,
    ):
        started = time.monotonic()
        for _ in range(2):
            await subscriber.subscribe(UPDATED, {"skus": ["SUB-1"]})
        for _ in range(3):
            await factories.adjust(admin, "SUB-1", "DC-1", 1)
        # Each subscription hears the last change (and the level's creation, published
        # after it subscribed, may come first).
        heard: set[str] = set()
        while heard != {"1", "2"}:
            message = await subscriber.receive()
            assert message["type"] == "next", message
            if message["payload"]["data"]["inventoryUpdated"]["newQuantity"] == 13:
                heard.add(message["id"])
        # The events delivered cost nothing: only the two subscribes and this query.
        body = await Client(http, secret).raw(VIEWER)
        left = cost_of(body)["throttleStatus"]["currentlyAvailable"]
        refilled = 0.5 * (time.monotonic() - started)
        assert 30 - 2 * UPDATED_COST - 1 - 1 <= left <= 30 - 2 * UPDATED_COST - 1 + refilled

        # Subscribes past what is left are refused before they start.
        accepted = 0
        refusal: list[Any] = []
        for _ in range(12):
            operation_id = await subscriber.start(UPDATED, {"skus": ["SUB-1"]})
            await subscriber.send({"type": "ping"})
            while (answer := await subscriber.receive())["type"] == "next":
                continue  # an event of an earlier subscription
            if answer["type"] == "error":
                assert answer["id"] == operation_id
                refusal = answer["payload"]
                break
            assert answer["type"] == "pong", answer
            accepted += 1
        assert refusal, "no subscribe was throttled"
        assert accepted <= (left + 0.5 * (time.monotonic() - started)) // UPDATED_COST + 1
        [error] = refusal
        assert error["extensions"]["code"] == "THROTTLED"
        assert error["extensions"]["retryAfterSeconds"] > 0


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.skipif(not redis_answers(), reason=f"no Redis answers at {REDIS_URL}")
async def test_processes_sharing_redis_share_one_bucket(fresh_database: str) -> None:
    engine = create_engine(fresh_database)
    secret = await token(engine, "shared-bucket")
    await engine.dispose()
    env = {
        "ONHAND_REDIS_URL": REDIS_URL,
        # Deployments on one Redis keep apart by their channel: so does this test.
        "ONHAND_BROADCAST_CHANNEL": f"onhand.test.{uuid.uuid4().hex}",
        "ONHAND_COST_LIMIT_MAXIMUM": "40",
        "ONHAND_COST_LIMIT_RESTORE_RATE": "0.5",
    }
    with (
        onhand_server(fresh_database, **env) as first,
        onhand_server(fresh_database, **env) as second,
    ):
        async with (
            httpx.AsyncClient(base_url=first, timeout=30) as one,
            httpx.AsyncClient(base_url=second, timeout=30) as other,
        ):
            started = time.monotonic()
            spent_first = 0
            for _ in range(30):
                body = await Client(one, secret).raw(VIEWER)
                assert "errors" not in body
                spent_first += 1
            # The second process sees what the first spent: one bucket, not one each.
            body = await Client(other, secret).raw(VIEWER)
            left = cost_of(body)["throttleStatus"]["currentlyAvailable"]
            elapsed = time.monotonic() - started
            assert left <= 40 - spent_first - 1 + 0.5 * elapsed + 1
            refused = 0
            for _ in range(30):
                body = await Client(other, secret).raw(VIEWER)
                if body.get("errors"):
                    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
                    refused += 1
            elapsed = time.monotonic() - started
            # 61 queries of cost 1 against one bucket of 40 refilling at 0.5 a second.
            assert refused >= 61 - 40 - 0.5 * elapsed - 1
