"""Stock alerts: raised when a condition starts (once), resolved when it clears, from stock
changes and from other parts' events, over GraphQL, subscriptions and webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api import ids
from onhand.auth.authenticator import Authenticator
from onhand.auth.roles import Role
from onhand.config import Settings
from onhand.events import outbox
from onhand.events.outbox import Event, Topic
from onhand.inventory.alerts.evaluation import evaluate
from onhand.inventory.alerts.model import alert_event
from onhand.inventory.alerts.rules import Thresholds, judge_levels
from onhand.services import Services
from onhand.workers import runner
from onhand.workers.alerter import thresholds
from support import factories
from support.alerts import ALERTS, RESOLVE, alerts, settled
from support.channels import channel
from support.client import Client
from support.receiver import Receiver
from support.server import running_server, serving
from support.ws import Subscriber

ADJUST = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) { inventoryLevel { available } errors { field code message } }
}"""
ACKNOWLEDGE = """
mutation($id: ID!) {
  acknowledgeAlert(input: {alertId: $id}) {
    alert { id status acknowledgedAt acknowledgedBy }
    errors { field code message }
  }
}"""
RAISED = """
subscription($skus: [String!], $after: Long) {
  alertRaised(skus: $skus, after: $after) {
    sequence topic
    alert { id kind severity status quantity threshold product { sku } warehouse { code } }
  }
}"""


async def adjust(client: Client, sku: str, delta: int, reason: str = "ADJUSTMENT") -> int:
    data = await client.mutate(
        "adjustInventory",
        ADJUST,
        {"input": {"sku": sku, "warehouseCode": "DC-1", "adjustment": delta, "reason": reason}},
    )
    return int(data["inventoryLevel"]["available"])


async def until_alerts(
    client: Client,
    condition: Callable[[list[dict[str, Any]]], bool],
    seconds: float = 15,
    **filter: Any,
) -> list[dict[str, Any]]:
    async with asyncio.timeout(seconds):
        while True:
            found = await alerts(client, **filter)
            if condition(found):
                return found
            await asyncio.sleep(0.05)


def of(found: list[dict[str, Any]], kind: str, status: str | None = None) -> list[dict]:
    return [a for a in found if a["kind"] == kind and (status is None or a["status"] == status)]


async def append(engine: AsyncEngine, *events: Event) -> None:
    async with engine.begin() as conn:
        await outbox.append(conn, list(events))


async def test_low_then_out_of_stock_raise_once_and_restock_resolves(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "AL-1", {"DC-1": 50})
    await settled(engine)
    assert await alerts(admin, sku="AL-1") == []

    assert await adjust(admin, "AL-1", -42) == 8
    found = await until_alerts(admin, lambda f: of(f, "LOW_STOCK"), sku="AL-1")
    [low] = found
    assert (low["status"], low["severity"]) == ("OPEN", "MEDIUM")
    assert (low["quantity"], low["threshold"]) == (8, 10)
    assert low["product"] == {"sku": "AL-1"}
    assert low["warehouse"] == {"code": "DC-1"}
    assert "AL-1" in low["message"]

    # Lower still, but still low: no second alert.
    await adjust(admin, "AL-1", -3)
    await settled(engine)
    assert len(await alerts(admin, sku="AL-1")) == 1

    # Out of stock replaces low stock.
    await adjust(admin, "AL-1", -5)
    found = await until_alerts(admin, lambda f: of(f, "OUT_OF_STOCK"), sku="AL-1")
    [out] = of(found, "OUT_OF_STOCK")
    assert (out["status"], out["severity"], out["quantity"]) == ("OPEN", "HIGH", 0)
    assert of(found, "LOW_STOCK", "RESOLVED")
    assert of(found, "LOW_STOCK")[0]["resolvedAt"] is not None

    # Restocking resolves everything; nothing stays unresolved.
    await adjust(admin, "AL-1", 40, "RECEIPT")
    found = await until_alerts(
        admin, lambda f: all(a["status"] == "RESOLVED" for a in f), sku="AL-1"
    )
    assert len(found) == 2
    assert await alerts(admin, sku="AL-1", status=["OPEN", "ACKNOWLEDGED"]) == []

    # A new shortage is a new alert.
    await adjust(admin, "AL-1", -35)
    found = await until_alerts(admin, lambda f: of(f, "LOW_STOCK", "OPEN"), sku="AL-1")
    assert len(of(found, "LOW_STOCK")) == 2
    assert found[0]["kind"] == "LOW_STOCK"
    assert found[0]["status"] == "OPEN"


async def test_safety_stock_is_the_low_stock_threshold_when_set(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "AL-SAFE", {"DC-1": 50}, safetyStock=20)
    await settled(engine)
    assert await adjust(admin, "AL-SAFE", -12) == 18
    [low] = await until_alerts(admin, lambda f: bool(f), sku="AL-SAFE")
    assert (low["kind"], low["quantity"], low["threshold"]) == ("LOW_STOCK", 18, 20)


async def test_reorder_needed_names_the_reorder_quantity(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "AL-RE", {"DC-1": 100}, reorderPoint=30, reorderQuantity=200)
    await settled(engine)
    await adjust(admin, "AL-RE", -60)
    await settled(engine)
    assert await alerts(admin, sku="AL-RE") == []
    await adjust(admin, "AL-RE", -15)
    [alert] = await until_alerts(admin, bool, sku="AL-RE", kind=["REORDER_NEEDED"])
    assert (alert["severity"], alert["status"]) == ("LOW", "OPEN")
    assert (alert["quantity"], alert["threshold"], alert["reorderQuantity"]) == (25, 30, 200)
    assert alert["details"]["reorderQuantity"] == 200
    # Filters: by severity and warehouse code.
    assert len(await alerts(admin, severity=["LOW"], warehouseCode="DC-1")) == 1
    assert await alerts(admin, severity=["HIGH"], sku="AL-RE") == []
    assert await alerts(admin, sku="NO-SUCH-SKU") == []


async def test_high_velocity_counts_outbound_units_of_the_last_hour(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "AL-FAST", {"DC-1": 1000})
    await adjust(admin, "AL-FAST", -60, "SALE")
    await adjust(admin, "AL-FAST", 500, "RECEIPT")  # inbound: not counted
    await settled(engine)
    assert await alerts(admin, sku="AL-FAST") == []
    await adjust(admin, "AL-FAST", -50, "TRANSFER_OUT")  # 110 out in the hour > 100
    [fast] = await until_alerts(admin, bool, sku="AL-FAST")
    assert (fast["kind"], fast["severity"], fast["quantity"], fast["threshold"]) == (
        "HIGH_VELOCITY",
        "MEDIUM",
        110,
        100,
    )


async def test_the_configured_velocity_and_low_stock_thresholds_are_used(
    admin: Client, engine: AsyncEngine
) -> None:
    made = await factories.stocked(admin, "AL-CONF", {"DC-1": 100})
    await adjust(admin, "AL-CONF", -6, "SALE")
    await settled(engine)
    assert await alerts(admin, sku="AL-CONF") == []
    limits = thresholds(Settings(high_velocity_units_per_hour=5, low_stock_threshold=200))
    assert limits == Thresholds(low_stock=200, high_velocity_units_per_hour=5)
    pair = (ids.decode(made["product"], "Product", "p"), ids.decode(made["DC-1"], "Warehouse", "w"))
    # Judged with these settings (and rolled back, so the running server is undisturbed).
    calmer = Thresholds(low_stock=200, high_velocity_units_per_hour=50)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        raised = await judge_levels(conn, [pair], limits)
        # Judged again once the hour's outbound is under the threshold (as when the hour
        # has slid past the sales): the velocity alert resolves by itself, the other stays.
        again = await judge_levels(conn, [pair], calmer)
        await transaction.rollback()
    kinds = {a.kind: a for a in raised}
    assert set(kinds) == {"HIGH_VELOCITY", "LOW_STOCK"}
    assert kinds["HIGH_VELOCITY"].details["quantity"] == 6
    assert kinds["LOW_STOCK"].details["threshold"] == 200
    assert [(a.kind, a.status) for a in again] == [("HIGH_VELOCITY", "RESOLVED")]


async def test_sync_stalled_is_raised_once_and_resolved_when_sync_resumes(
    admin: Client, engine: AsyncEngine
) -> None:
    made = await channel(admin, "MARKET", kind="BATCH")
    channel_id = ids.decode(made["id"], "Channel", "id")
    stalled = Event(
        Topic.SYNC_STALLED,
        {"channelId": channel_id, "channelCode": "MARKET", "lastSyncAt": None},
        channel_id=channel_id,
    )
    await append(engine, stalled)
    [alert] = await until_alerts(admin, bool, kind=["SYNC_STALLED"])
    assert (alert["severity"], alert["status"]) == ("HIGH", "OPEN")
    assert alert["channel"] == {"code": "MARKET"}
    assert alert["product"] is None
    assert "MARKET" in alert["message"]
    assert len(await alerts(admin, channelId=made["id"])) == 1

    await append(engine, stalled)  # reported again while still stalled: no new alert
    await settled(engine)
    assert len(await alerts(admin, kind=["SYNC_STALLED"])) == 1

    await append(engine, Event(Topic.SYNC_RESUMED, {"channelId": channel_id}))
    [alert] = await until_alerts(
        admin, lambda f: f[0]["status"] == "RESOLVED", kind=["SYNC_STALLED"]
    )
    assert alert["resolvedAt"] is not None


async def test_transfer_discrepancy_stays_open_until_an_operator_resolves_it(
    admin: Client, operator: Client, storefront: Client, engine: AsyncEngine
) -> None:
    made = await factories.stocked(admin, "AL-TR", {"DC-1": 100})
    product_id = ids.decode(made["product"], "Product", "p")
    warehouse_id = ids.decode(made["DC-1"], "Warehouse", "w")
    payload = {
        "transferOrderId": 7,
        "discrepancyId": 3,
        "productId": product_id,
        "warehouseId": warehouse_id,
        "shipped": 10,
        "received": 8,
        "reason": "DAMAGED_IN_TRANSIT",
    }
    event = Event(Topic.TRANSFER_DISCREPANCY, payload, product_id, warehouse_id)
    await append(engine, event, event)  # the same discrepancy twice: one alert
    [alert] = await until_alerts(admin, bool, kind=["TRANSFER_DISCREPANCY"])
    await settled(engine)
    assert len(await alerts(admin, kind=["TRANSFER_DISCREPANCY"])) == 1
    assert (alert["severity"], alert["status"], alert["quantity"]) == ("MEDIUM", "OPEN", -2)
    assert alert["product"] == {"sku": "AL-TR"}
    assert alert["warehouse"] == {"code": "DC-1"}
    assert alert["details"]["reason"] == "DAMAGED_IN_TRANSIT"

    denied = await storefront(RESOLVE, {"id": alert["id"]})
    assert denied["resolveAlert"]["errors"][0]["code"] == "FORBIDDEN"
    acknowledged = (await operator(ACKNOWLEDGE, {"id": alert["id"]}))["acknowledgeAlert"]
    assert acknowledged["alert"]["status"] == "ACKNOWLEDGED"
    resolved = (await operator(RESOLVE, {"id": alert["id"]}))["resolveAlert"]
    assert resolved["errors"] == []
    assert resolved["alert"]["status"] == "RESOLVED"
    assert resolved["alert"]["resolvedBy"] == "test-operator"
    again = (await operator(RESOLVE, {"id": alert["id"]}))["resolveAlert"]
    assert again["errors"][0]["code"] == "INVALID_TRANSITION"
    late = (await operator(ACKNOWLEDGE, {"id": alert["id"]}))["acknowledgeAlert"]
    assert late["errors"][0]["code"] == "INVALID_TRANSITION"


async def test_acknowledged_alerts_still_resolve_by_themselves(
    admin: Client, operator: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "AL-ACK", {"DC-1": 5})
    [alert] = await until_alerts(admin, bool, sku="AL-ACK")
    assert alert["kind"] == "LOW_STOCK"

    denied = (await storefront(ACKNOWLEDGE, {"id": alert["id"]}))["acknowledgeAlert"]
    assert denied["errors"][0]["code"] == "FORBIDDEN"
    bad = (await operator(ACKNOWLEDGE, {"id": "not-an-id"}))["acknowledgeAlert"]
    assert (bad["errors"][0]["field"], bad["errors"][0]["code"]) == ("alertId", "INVALID_ID")
    missing = ids.encode("Alert", 999_999)
    gone = (await operator(ACKNOWLEDGE, {"id": missing}))["acknowledgeAlert"]
    assert gone["errors"][0]["code"] == "NOT_FOUND"
    manual = (await operator(RESOLVE, {"id": alert["id"]}))["resolveAlert"]
    assert manual["errors"][0]["code"] == "INVALID_TRANSITION"  # stock alerts clear themselves

    done = (await operator(ACKNOWLEDGE, {"id": alert["id"]}))["acknowledgeAlert"]
    assert done["alert"]["status"] == "ACKNOWLEDGED"
    assert done["alert"]["acknowledgedBy"] == "test-operator"
    twice = (await operator(ACKNOWLEDGE, {"id": alert["id"]}))["acknowledgeAlert"]
    assert twice["errors"] == []
    assert twice["alert"]["status"] == "ACKNOWLEDGED"
    assert len(await alerts(storefront, status=["ACKNOWLEDGED"])) == 1  # READ_STOCK reads

    await adjust(admin, "AL-ACK", 50, "RECEIPT")
    [alert] = await until_alerts(admin, lambda f: f[0]["status"] == "RESOLVED", sku="AL-ACK")
    assert alert["acknowledgedAt"] is not None
    assert alert["resolvedBy"] == "alert-evaluator"


async def test_alert_raised_reaches_subscribers_live_and_on_replay(
    admin: Client, engine: AsyncEngine, base_url: str, tokens: dict[Role, str]
) -> None:
    await factories.stocked(admin, "AL-WS", {"DC-1": 20})
    await factories.stocked(admin, "AL-OTHER", {"DC-1": 20})
    await settled(engine)
    before = (await admin("{ latestSequence }"))["latestSequence"]
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        await subscriber.subscribe(RAISED, {"skus": ["AL-WS"]})
        await adjust(admin, "AL-OTHER", -20)  # filtered out
        await adjust(admin, "AL-WS", -20)
        event = (await subscriber.next())["data"]["alertRaised"]
    assert event["topic"] == "ALERT_RAISED"
    alert = event["alert"]
    assert (alert["kind"], alert["severity"], alert["status"]) == ("OUT_OF_STOCK", "HIGH", "OPEN")
    assert alert["product"] == {"sku": "AL-WS"}
    assert alert["warehouse"] == {"code": "DC-1"}
    [stored] = await alerts(admin, sku="AL-WS")
    assert stored["id"] == alert["id"]

    # A client that was away replays what it missed with `after`.
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        await subscriber.subscribe(RAISED, {"skus": ["AL-WS"], "after": before})
        replayed = (await subscriber.next())["data"]["alertRaised"]
    assert replayed["sequence"] == event["sequence"]
    assert replayed["alert"]["id"] == alert["id"]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    with serving(endpoint.app()) as url:
        yield endpoint, f"{url}/hook"


async def test_a_webhook_subscribed_to_alert_raised_receives_it(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    await admin.mutate(
        "createWebhook",
        "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) {"
        " webhook { id } errors { field code message } } }",
        {"input": {"url": url, "events": ["ALERT_RAISED"]}},
    )
    await factories.stocked(admin, "AL-HOOK", {"DC-1": 50})
    await adjust(admin, "AL-HOOK", -50)
    async with asyncio.timeout(15):
        while not endpoint.succeeded():
            await asyncio.sleep(0.02)
    body = endpoint.succeeded()[0].body
    assert body["topic"] == "ALERT_RAISED"
    assert body["data"]["kind"] == "OUT_OF_STOCK"
    [stored] = await alerts(admin, sku="AL-HOOK")
    assert body["data"]["alertId"] == stored["id"]
    assert (
        body["data"]["productId"]
        == (await admin('{ product(sku: "AL-HOOK") { id } }'))["product"]["id"]
    )


async def test_concurrent_evaluators_raise_one_alert(admin: Client, engine: AsyncEngine) -> None:
    made = await factories.stocked(admin, "AL-RACE", {"DC-1": 100})
    pair = (ids.decode(made["product"], "Product", "p"), ids.decode(made["DC-1"], "Warehouse", "w"))
    await adjust(admin, "AL-RACE", -100)  # out of stock: every evaluator below sees it
    limits = Thresholds()

    async def judge() -> list[str]:
        async with engine.begin() as conn:
            raised = await judge_levels(conn, [pair], limits)
            await outbox.append(conn, [alert_event(a) for a in raised])
            await asyncio.sleep(0.05)  # hold the transaction open so the others overlap
            return [a.kind for a in raised if a.status == "OPEN"]

    async def step() -> int:
        async with engine.begin() as conn:
            return await evaluate(conn, limits)

    results = await asyncio.gather(*(judge() for _ in range(6)), step(), step())
    # The server's own evaluator runs too: between all of them, exactly one alert.
    raised_here = [kind for result in results[:6] for kind in result]  # type: ignore[union-attr]
    assert raised_here.count("OUT_OF_STOCK") <= 1
    await settled(engine)
    found = await alerts(admin, sku="AL-RACE")
    assert [a["kind"] for a in found] == ["OUT_OF_STOCK"]
    async with engine.connect() as conn:
        announced = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM outbox WHERE topic = 'ALERT_RAISED'"
                    " AND product_id = :p AND payload->>'kind' = 'OUT_OF_STOCK'"
                ),
                {"p": pair[0]},
            )
        ).scalar()
    assert announced == 1


async def test_bad_filters_name_the_field_and_the_loop_is_a_worker_loop(
    admin: Client, engine: AsyncEngine
) -> None:
    body = await admin.raw(ALERTS, {"filter": {"productId": "nope"}})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_ID"
    assert "productId" in error["message"]
    body = await admin.raw(ALERTS, {"filter": {"status": ["CLOSED"]}})
    assert "CLOSED" in body["errors"][0]["message"]
    # `onhand worker` runs the evaluator too, polling when there is no event hub.
    [loop] = runner.selected(["alert-evaluator"])
    services = Services(settings=Settings(), engine=engine, authenticator=Authenticator(engine, 0))
    assert await loop.step(services) in (None, 0.0)


async def test_malformed_events_do_not_stop_the_evaluator(
    admin: Client, engine: AsyncEngine
) -> None:
    await append(
        engine,
        Event(Topic.SYNC_STALLED, {"channelId": "not-a-number"}),
        Event(Topic.TRANSFER_DISCREPANCY, {"productId": 2**70, "shipped": "ten"}),
        Event(Topic.SYNC_RESUMED, {}),
    )
    await factories.stocked(admin, "AL-AFTER", {"DC-1": 50})
    await adjust(admin, "AL-AFTER", -50)
    [alert] = await until_alerts(admin, bool, sku="AL-AFTER")
    assert alert["kind"] == "OUT_OF_STOCK"
    assert await alerts(admin, kind=["SYNC_STALLED", "TRANSFER_DISCREPANCY"]) == []


async def test_two_server_processes_raise_each_alert_once(
    admin: Client,
    engine: AsyncEngine,
    settings: Settings,
    database_url: str,
    tokens: dict[Role, str],
) -> None:
    skus = [f"AL-TWO-{n}" for n in range(8)]
    for sku in skus:
        await factories.stocked(admin, sku, {"DC-1": 20})
    with running_server(settings, database_url) as other_url:
        async with httpx.AsyncClient(base_url=other_url, timeout=60) as http:
            other = Client(http, tokens[Role.ADMIN])
            # Both servers take changes and both run the evaluator.
            for _ in range(4):
                await asyncio.gather(
                    *(adjust((admin, other)[n % 2], sku, -5) for n, sku in enumerate(skus))
                )
            await settled(engine)
    found = await alerts(admin)
    for sku in skus:
        mine = [a for a in found if a["product"] == {"sku": sku}]
        assert len(of(mine, "OUT_OF_STOCK", "OPEN")) == 1, mine
        assert len(of(mine, "LOW_STOCK")) <= 1, mine
        assert not of(mine, "LOW_STOCK", "OPEN"), mine
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT topic, payload->>'alertId', count(*) FROM outbox"
                    " WHERE topic IN ('ALERT_RAISED', 'ALERT_RESOLVED')"
                    " GROUP BY 1, 2"
                )
            )
        ).all()
    assert counts
    assert all(n == 1 for _, _, n in counts), counts
