"""The dispatcher's HTTP and its claims: a redirect is a failed attempt named by its answer, a
long answer does not stop deliveries, and claiming the next deliveries reads only those."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onhand.webhooks.deliveries import _CLAIM, claim
from support import factories
from support.client import Client
from support.factories import adjust
from support.server import serving
from support.waiting import until
from support.webhooks import webhook

DELIVERIES = """
query($id: ID) {
  webhookDeliveries(webhookId: $id, first: 50) {
    nodes { sequence status lastError lastStatusCode }
  }
}"""
LONG_ANSWER = "moved elsewhere; " * 1000


@pytest.fixture
def endpoint() -> Iterator[tuple[dict[str, list[bytes]], str]]:
    """/moved answers 307 to /elsewhere with a long body; /chatty answers 200 with a megabyte;
    what each path received is kept."""
    received: dict[str, list[bytes]] = {"/moved": [], "/elsewhere": [], "/chatty": []}

    async def moved(request: Request) -> Response:
        received["/moved"].append(await request.body())
        return Response(LONG_ANSWER, status_code=307, headers={"Location": "/elsewhere"})

    async def elsewhere(request: Request) -> Response:
        received["/elsewhere"].append(await request.body())
        return Response(status_code=200)

    async def chatty(request: Request) -> Response:
        received["/chatty"].append(await request.body())
        return Response(b"x" * 1_000_000, status_code=200)

    app = Starlette(
        routes=[
            Route("/moved", moved, methods=["POST"]),
            Route("/elsewhere", elsewhere, methods=["POST"]),
            Route("/chatty", chatty, methods=["POST"]),
        ]
    )
    with serving(app) as url:
        yield received, url


async def deliveries(admin: Client, webhook_id: str) -> list[dict[str, Any]]:
    data = await admin(DELIVERIES, {"id": webhook_id})
    return list(data["webhookDeliveries"]["nodes"])


async def test_a_redirect_is_a_failed_attempt_named_by_its_answer(
    admin: Client, endpoint: tuple[dict[str, list[bytes]], str]
) -> None:
    received, url = endpoint
    hook = await webhook(admin, f"{url}/moved", ["INVENTORY_UPDATED"])
    await factories.stocked(admin, "MOVED-1", {"DC-1": 0})
    await adjust(admin, "MOVED-1", "DC-1", 3)

    async def failed() -> list[dict[str, Any]]:
        return [d for d in await deliveries(admin, hook["webhook"]["id"]) if d["lastError"]]

    await until(failed, "the first attempt recorded")
    [delivery] = await failed()
    assert delivery["status"] == "PENDING"  # to be retried, at the same URL
    assert delivery["lastStatusCode"] == 307
    # The answer's start names the failure; the rest of a long answer is left out.
    assert delivery["lastError"] == f"HTTP 307: {LONG_ANSWER[:200]}"
    assert received["/moved"]
    assert not received["/elsewhere"]


async def test_a_long_answer_does_not_stop_the_deliveries_after_it(
    admin: Client, endpoint: tuple[dict[str, list[bytes]], str]
) -> None:
    received, url = endpoint
    hook = await webhook(admin, f"{url}/chatty", ["INVENTORY_UPDATED"])
    await factories.stocked(admin, "CHATTY-1", {"DC-1": 0})
    for _ in range(3):
        await adjust(admin, "CHATTY-1", "DC-1", 1)

    async def succeeded() -> bool:
        found = await deliveries(admin, hook["webhook"]["id"])
        return len(found) == 3 and all(d["status"] == "SUCCEEDED" for d in found)

    await until(succeeded, "three deliveries succeeded")
    on_hand = sorted(json.loads(raw)["data"]["after"]["onHand"] for raw in received["/chatty"])
    assert on_hand == [1, 2, 3]


async def test_a_claim_reads_the_deliveries_it_takes_and_no_more(engine: AsyncEngine) -> None:
    """20,000 deliveries made at one moment (an import's) for one webhook, ten for another:
    each webhook's next few are read through the due index in its order, without reading and
    sorting the backlog, and a webhook with no room left in flight is not read at all.
    Everything here is rolled back, unseen by the server's own dispatcher."""
    async with engine.connect() as conn, conn.begin() as transaction:
        backlog, other = [
            (
                await conn.execute(
                    text(
                        "INSERT INTO webhooks (url, topics, secret) VALUES (:url,"
                        " ARRAY['INVENTORY_UPDATED'], 'secret-0123456789') RETURNING id"
                    ),
                    {"url": f"http://127.0.0.1:9/{name}"},
                )
            ).scalar_one()
            for name in ("backlog", "other")
        ]
        for hook, count in ((backlog, 20000), (other, 10)):
            await conn.execute(
                text(
                    "INSERT INTO webhook_deliveries (webhook_id, sequence, topic, body)"
                    " SELECT :hook, s, 'INVENTORY_UPDATED', '{}' FROM generate_series(1, :n) s"
                ),
                {"hook": hook, "n": count},
            )
        await conn.execute(text("ANALYZE webhooks, webhook_deliveries"))

        async def rows_read(in_flight: dict[int, int]) -> int:
            """Deliveries the claim's plan read from the due index (rolled back)."""
            async with conn.begin_nested() as explaining:
                explained = (
                    await conn.execute(
                        text(f"EXPLAIN (ANALYZE, FORMAT JSON) {_CLAIM.text}"),
                        {
                            "limit": 8,
                            "lease": 10.0,
                            "per_webhook": 4,
                            "flying": list(in_flight),
                            "counts": list(in_flight.values()),
                        },
                    )
                ).scalar_one()
                await explaining.rollback()
            scans = [
                n
                for n in _nodes(explained[0]["Plan"])
                if n.get("Index Name") == "ix_webhook_deliveries_due"
            ]
            assert scans, explained
            return sum(n["Actual Rows"] * n["Actual Loops"] for n in scans)

        assert await rows_read({}) <= 8
        assert await rows_read({backlog: 4}) <= 4
        # What is taken: up to four per webhook, oldest first; none of a full webhook's.
        taken = await claim(conn, 8, 10.0, 4, {backlog: 3})
        by_webhook = Counter(d.webhook_id for d in taken)
        assert by_webhook == {backlog: 1, other: 4}
        assert sorted(d.sequence for d in taken if d.webhook_id == other) == [1, 2, 3, 4]
        assert await claim(conn, 8, 10.0, 4, {backlog: 4, other: 4}) == []
        await transaction.rollback()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)
