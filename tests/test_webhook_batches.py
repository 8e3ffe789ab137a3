"""Batched webhooks: several events per POST, in order, signed over the whole array, retried
as a batch; a webhook that does not ask for batches gets each event alone, as always."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from onhand.webhooks.signing import verify
from support import factories
from support.client import Client
from support.factories import adjust
from support.receiver import Received, Receiver
from support.server import serving
from support.waiting import until
from support.webhooks import CREATE, webhook

HISTORY = """
query($id: ID) {
  webhookDeliveries(webhookId: $id, first: 100) {
    nodes { sequence status attempts history { statusCode } }
  }
}"""


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    # A moment over each POST, so that events pile up behind the one in flight.
    endpoint = Receiver(delay=0.05)
    with serving(endpoint.app()) as url:
        yield endpoint, f"{url}/hook"


def sequences(posts: list[Received]) -> list[int]:
    return [event["sequence"] for post in posts for event in post.body_list]


async def test_a_batched_webhook_gets_every_event_once_in_order_signed(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    hook = await webhook(admin, url, ["INVENTORY_UPDATED"], maxEventsPerDelivery=10)
    assert hook["webhook"]["maxEventsPerDelivery"] == 10
    await factories.stocked(admin, "BATCH-1", {"DC-1": 0})
    await asyncio.gather(*(adjust(admin, "BATCH-1", "DC-1", 1) for _ in range(30)))

    def on_hand() -> list[int]:
        return [e["data"]["after"]["onHand"] for p in endpoint.succeeded() for e in p.body_list]

    await until(lambda: 30 in on_hand(), "every event")
    await asyncio.sleep(0.3)  # nothing more may arrive
    posts = endpoint.succeeded()
    got = sequences(posts)
    # Each event once, oldest first across every POST; fewer POSTs than events.
    assert got == sorted(set(got))
    assert [n for n in on_hand() if n > 0] == list(range(1, 31))
    assert len(posts) < len(got)
    assert max(len(p.body_list) for p in posts) <= 10
    assert any(len(p.body_list) > 1 for p in posts)
    for post in posts:
        assert isinstance(post.json, list)
        assert int(post.headers["x-onhand-batch-size"]) == len(post.body_list)
        assert len(post.headers["x-onhand-delivery"].split(",")) == len(post.body_list)
        stamp = int(post.headers["x-onhand-timestamp"])
        assert verify(hook["secret"], stamp, post.raw, post.headers["x-onhand-signature"])
        assert all(e["topic"] == "INVENTORY_UPDATED" for e in post.body_list)
    # The last event says what the level holds now: 30 units, one at a time.
    assert posts[-1].body_list[-1]["data"]["after"]["onHand"] == 30


async def test_a_failed_batch_is_retried_whole_before_anything_after_it(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    endpoint.statuses = [500, 503]
    hook = await webhook(admin, url, ["INVENTORY_UPDATED"], maxEventsPerDelivery=5)
    await factories.stocked(admin, "BATCH-2", {"DC-1": 0})
    for _ in range(12):
        await adjust(admin, "BATCH-2", "DC-1", 1)
    await until(
        lambda: any(
            e["data"]["after"]["onHand"] == 12 for p in endpoint.succeeded() for e in p.body_list
        ),
        "every event",
    )
    await asyncio.sleep(0.3)
    first, second, third = endpoint.received[:3]
    assert (first.status, second.status, third.status) == (500, 503, 200)
    # The same events again first (more may have joined them behind), and the first accepted
    # POST starts where the failed one did.
    assert second.body_list[: len(first.body_list)] == first.body_list
    assert sequences([third])[: len(first.body_list)] == sequences([first])
    got = sequences(endpoint.succeeded())
    assert got == sorted(set(got))
    on_hand = [e["data"]["after"]["onHand"] for p in endpoint.succeeded() for e in p.body_list]
    assert [n for n in on_hand if n > 0] == list(range(1, 13))

    async def recorded() -> list[dict]:
        data = await admin(HISTORY, {"id": hook["webhook"]["id"]})
        nodes = data["webhookDeliveries"]["nodes"]
        return nodes if all(n["status"] == "SUCCEEDED" for n in nodes) else []

    await until(recorded, "every delivery recorded")
    # One attempt per POST each event was in.
    in_first = {e["sequence"] for e in first.body_list}
    in_second = {e["sequence"] for e in second.body_list}
    for node in await recorded():
        codes = [a["statusCode"] for a in node["history"]]
        expected = [500] * (node["sequence"] in in_first) + [503] * (node["sequence"] in in_second)
        assert codes == [*expected, 200]


async def test_a_webhook_that_asks_for_nothing_gets_each_event_alone(
    admin: Client, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    hook = await webhook(admin, url, ["INVENTORY_UPDATED"])
    assert hook["webhook"]["maxEventsPerDelivery"] == 1
    await factories.stocked(admin, "BATCH-3", {"DC-1": 0})
    await asyncio.gather(*(adjust(admin, "BATCH-3", "DC-1", 1) for _ in range(5)))
    await until(
        lambda: any(p.json["data"]["after"]["onHand"] == 5 for p in endpoint.succeeded()),
        "every event",
    )
    for post in endpoint.succeeded():
        assert isinstance(post.json, dict)
        assert post.json["topic"] == "INVENTORY_UPDATED"
        assert "x-onhand-batch-size" not in post.headers
        assert post.headers["x-onhand-sequence"] == str(post.json["sequence"])


async def test_batch_size_is_validated(admin: Client) -> None:
    for size in (0, 1001):
        bad = await admin(
            CREATE,
            {
                "input": {
                    "url": "http://127.0.0.1:9/hook",
                    "events": ["INVENTORY_UPDATED"],
                    "maxEventsPerDelivery": size,
                }
            },
        )
        assert [(e["field"], e["code"]) for e in bad["createWebhook"]["errors"]] == [
            ("maxEventsPerDelivery", "INVALID")
        ]
    listed = await admin("{ webhooks(first: 10) { totalCount } }")
    assert listed["webhooks"]["totalCount"] == 0
    hook = await webhook(admin, "http://127.0.0.1:9/hook", ["INVENTORY_UPDATED"])
    changed = await admin(
        """mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) {
            webhook { maxEventsPerDelivery } errors { field code } } }""",
        {"input": {"id": hook["webhook"]["id"], "maxEventsPerDelivery": 250}},
    )
    assert changed["updateWebhook"] == {"webhook": {"maxEventsPerDelivery": 250}, "errors": []}
