"""Webhooks: signed, at least once, retried with backoff, dead-lettered, replayable, and a
failing endpoint does not hold up the others."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator

import pytest

from onhand.webhooks.signing import verify
from support import factories
from support.client import Client
from support.factories import adjust
from support.receiver import Receiver
from support.server import serving
from support.waiting import until
from support.webhooks import CREATE, webhook

DELIVERIES = """
query($id: ID, $status: WebhookDeliveryStatus) {
  webhookDeliveries(webhookId: $id, status: $status, first: 50) {
    nodes {
      id event sequence status attempts lastError lastStatusCode deliveredAt
      history { attemptedAt statusCode error durationMs }
    }
  }
}"""
RETRY = """
mutation($id: ID!) {
  retryWebhookDelivery(input: {id: $id}) { delivery { status attempts } errors { code } }
}"""


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    with serving(endpoint.app()) as url:
        yield endpoint, f"{url}/hook"


async def deliveries(admin: Client, webhook_id: str, status: str | None = None) -> list[dict]:
    data = await admin(DELIVERIES, {"id": webhook_id, "status": status})
    return list(data["webhookDeliveries"]["nodes"])


async def test_a_receiver_failing_twice_gets_each_event_once_validly_signed(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    endpoint.statuses = [500, 503]
    hook = await webhook(admin, url, ["INVENTORY_UPDATED"])
    await factories.stocked(admin, "HOOK-1", {"DC-1": 0})
    await adjust(admin, "HOOK-1", "DC-1", 5)
    await until(lambda: endpoint.succeeded(), "a successful attempt")
    await until(
        lambda: deliveries(admin, hook["webhook"]["id"], "SUCCEEDED"), "the success recorded"
    )
    await asyncio.sleep(0.3)  # nothing more may arrive
    attempts = endpoint.received
    assert [a.status for a in attempts] == [500, 503, 200]
    # The same delivery each time: same id, same body; signed with the webhook's secret.
    assert len({a.headers["x-onhand-delivery"] for a in attempts}) == 1
    assert len({a.raw for a in attempts}) == 1
    final = attempts[-1]
    timestamp = int(final.headers["x-onhand-timestamp"])
    assert verify(hook["secret"], timestamp, final.raw, final.headers["x-onhand-signature"])
    assert not verify(
        "another-secret-entirely", timestamp, final.raw, final.headers["x-onhand-signature"]
    )
    body = final.body
    assert body["topic"] == "INVENTORY_UPDATED"
    assert body["data"]["after"]["onHand"] == 5
    assert (
        body["data"]["productId"]
        == (await admin('{ product(sku: "HOOK-1") { id } }'))["product"]["id"]
    )
    [delivery] = await deliveries(admin, hook["webhook"]["id"])
    assert delivery["status"] == "SUCCEEDED"
    assert delivery["attempts"] == 3
    assert delivery["sequence"] == body["sequence"]


async def test_every_event_is_delivered_once_in_all(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    await webhook(admin, url, ["INVENTORY_UPDATED"])
    await factories.stocked(admin, "HOOK-2", {"DC-1": 0})
    for delta in range(1, 11):
        await adjust(admin, "HOOK-2", "DC-1", delta)
    await until(lambda: len(endpoint.succeeded()) >= 10, "ten deliveries")
    await asyncio.sleep(0.3)
    sequences = [r.body["sequence"] for r in endpoint.received]
    assert len(sequences) == 10
    assert len(set(sequences)) == 10
    assert sorted(r.body["data"]["after"]["onHand"] for r in endpoint.received) == [
        sum(range(1, n + 1)) for n in range(1, 11)
    ]


async def test_after_the_last_retry_a_delivery_is_dead_lettered_and_can_be_replayed(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    endpoint.statuses = [500] * 4  # the first attempt and 3 retries
    hook = await webhook(admin, url, ["INVENTORY_UPDATED"])
    await factories.stocked(admin, "HOOK-3", {"DC-1": 0})
    await adjust(admin, "HOOK-3", "DC-1", 2)
    hook_id = hook["webhook"]["id"]

    async def dead() -> list[dict]:
        return await deliveries(admin, hook_id, "DEAD")

    async with asyncio.timeout(15):
        while not await dead():
            await asyncio.sleep(0.05)
    [delivery] = await dead()
    assert delivery["attempts"] == 4
    assert delivery["lastStatusCode"] == 500
    assert "500" in delivery["lastError"]
    # Dead-lettered is not silent: an alert names the webhook and what it missed.
    alerts = await admin(
        "{ alerts(filter: {kind: [WEBHOOK_DEAD]}) { nodes { severity message details } } }"
    )
    [alert] = alerts["alerts"]["nodes"]
    assert alert["severity"] == "HIGH"
    assert hook_id in alert["message"]
    assert "INVENTORY_UPDATED" in alert["message"]
    assert (alert["details"]["webhookId"], alert["details"]["deliveryId"]) == (
        hook_id,
        delivery["id"],
    )
    assert len(endpoint.received) == 4
    replay = await admin(RETRY, {"id": delivery["id"]})
    assert replay["retryWebhookDelivery"]["delivery"]["status"] == "PENDING"
    # The receiver answers before the worker records the outcome: wait for the record.
    await until(
        lambda: deliveries(admin, hook_id, "SUCCEEDED"), "the replayed delivery recorded SUCCEEDED"
    )
    [done] = await deliveries(admin, hook_id)
    assert done["status"] == "SUCCEEDED"
    assert len(endpoint.received) == 5
    # The retry started a new count, and kept the history of every attempt.
    assert done["attempts"] == 1
    history = done["history"]
    assert [(a["statusCode"], a["error"] is None) for a in history] == [(500, False)] * 4 + [
        (200, True)
    ]
    assert all(a["durationMs"] >= 0 for a in history)
    assert [a["attemptedAt"] for a in history] == sorted(a["attemptedAt"] for a in history)


async def test_retries_back_off_exponentially(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    endpoint.statuses = [500, 500, 500]
    await webhook(admin, url, ["INVENTORY_UPDATED"])
    await factories.stocked(admin, "HOOK-4", {"DC-1": 0})
    await adjust(admin, "HOOK-4", "DC-1", 1)
    await until(lambda: endpoint.succeeded(), "a successful attempt")
    assert len(endpoint.received) == 4
    # 50 ms, 100 ms, 200 ms in the tests' settings. A retry may come late on a busy machine
    # but never early, so each gap is at least its scheduled delay, and the doubling shows.
    arrival_gaps = _gaps(endpoint)
    for gap, scheduled in zip(arrival_gaps, [0.05, 0.1, 0.2], strict=True):
        assert gap >= scheduled * 0.95, arrival_gaps


def _gaps(endpoint: Receiver) -> list[float]:
    times = [r.arrived_at for r in endpoint.received]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_a_failing_endpoint_trips_its_circuit_and_does_not_hold_up_others(
    admin: Client,
) -> None:
    failing, healthy = Receiver(statuses=[500] * 100), Receiver()
    with serving(failing.app()) as bad_url, serving(healthy.app()) as good_url:
        bad = await webhook(admin, f"{bad_url}/hook", ["INVENTORY_UPDATED"])
        await webhook(admin, f"{good_url}/hook", ["INVENTORY_UPDATED"])
        await factories.stocked(admin, "HOOK-5", {"DC-1": 0})
        for delta in range(1, 7):
            await adjust(admin, "HOOK-5", "DC-1", delta)
        await until(lambda: len(healthy.succeeded()) >= 6, "six deliveries to the healthy endpoint")
        await until(lambda: len(failing.received) >= 5, "five attempts at the failing endpoint")
        state: dict = {}

        async def circuit_open() -> bool:
            # The receiver counts an attempt when it arrives; the server records its failure
            # once the answer is back: wait for the record.
            found = await admin(
                "query($id: ID!) { node(id: $id) { ... on Webhook {"
                " consecutiveFailures circuitOpenUntil } } }",
                {"id": bad["webhook"]["id"]},
            )
            state.update(found["node"])
            # Attempts already on their way when it opened (several may be in flight to one
            # endpoint) arrive and fail too: count once every attempt made is recorded.
            recorded = state["consecutiveFailures"] == len(failing.received)
            return state["circuitOpenUntil"] is not None and recorded

        await until(circuit_open, "the failing endpoint's circuit open, every attempt recorded")
        attempts_when_open = len(failing.received)
        await asyncio.sleep(0.5)
    assert state["consecutiveFailures"] >= 5
    # While open, nothing more is sent to it.
    assert len(failing.received) == attempts_when_open


async def test_webhook_input_is_validated_and_admin_only(admin: Client, operator: Client) -> None:
    bad = await admin(CREATE, {"input": {"url": "ftp://x", "events": []}})
    codes = {(e["field"], e["code"]) for e in bad["createWebhook"]["errors"]}
    assert ("url", "INVALID") in codes
    assert ("events", "REQUIRED") in codes
    denied = await operator(
        CREATE, {"input": {"url": "http://127.0.0.1:9/hook", "events": ["INVENTORY_UPDATED"]}}
    )
    assert denied["createWebhook"]["errors"][0]["code"] == "FORBIDDEN"
    listed = await admin("{ webhooks(first: 10) { totalCount } }")
    assert listed["webhooks"]["totalCount"] == 0


async def test_update_and_delete_a_webhook(admin: Client) -> None:
    hook = await webhook(admin, "http://127.0.0.1:9/hook", ["INVENTORY_UPDATED"])
    hook_id = hook["webhook"]["id"]
    updated = await admin.mutate(
        "updateWebhook",
        """mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) {
            webhook { url events isActive version } errors { code } } }""",
        {
            "input": {
                "id": hook_id,
                "expectedVersion": 1,
                "events": ["INVENTORY_TRANSFERRED"],
                "isActive": False,
            }
        },
    )
    assert updated["webhook"] == {
        "url": "http://127.0.0.1:9/hook",
        "events": ["INVENTORY_TRANSFERRED"],
        "isActive": False,
        "version": 2,
    }
    stale = await admin(
        """mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) {
            errors { code currentVersion } } }""",
        {"input": {"id": hook_id, "expectedVersion": 1, "isActive": True}},
    )
    assert stale["updateWebhook"]["errors"] == [{"code": "VERSION_CONFLICT", "currentVersion": 2}]
    gone = await admin.mutate(
        "deleteWebhook",
        "mutation($id: ID!) { deleteWebhook(input: {id: $id}) { deletedId errors { code } } }",
        {"id": hook_id},
    )
    assert gone["deletedId"] == hook_id
    listed = await admin("{ webhooks(first: 10) { totalCount } }")
    assert listed["webhooks"]["totalCount"] == 0
    assert json.dumps(listed)  # the list answers after a delete
