"""Batch-channel sync: stall detection (SYNC_STALLED once per stall, SYNC_RESUMED on the next
sync) and push mode (one signed CHANNEL_SYNC_BATCH per interval to the channel's webhook)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.webhooks.signing import verify
from onhand.workers import runner
from onhand.workers.channel_sync import check_stalls
from support import channels, factories
from support.channels import FEED, STATUS, shop, values
from support.client import Client
from support.database import published
from support.factories import adjust
from support.receiver import Receiver
from support.server import serving
from support.waiting import until
from support.webhooks import webhook


async def events(engine: AsyncEngine, topic: str, code: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT payload FROM outbox WHERE topic = :topic"
                " AND payload->>'channelCode' = :code ORDER BY id"
            ),
            {"topic": topic, "code": code},
        )
        return [dict(row.payload) for row in rows]


async def check_at(engine: AsyncEngine, ahead: timedelta) -> None:
    async with engine.begin() as conn:
        now = (await conn.execute(text("SELECT now()"))).scalar_one()
        await check_stalls(conn, now + ahead)


async def test_a_batch_channel_silent_for_two_intervals_stalls_once_and_resumes_on_a_pull(
    admin: Client, engine: AsyncEngine
) -> None:
    await shop(admin, syncIntervalMinutes=10)
    await channels.channel(admin, "LIVE", ["DC-1"])  # REALTIME channels never stall
    await check_at(engine, timedelta(minutes=19))
    assert await events(engine, "SYNC_STALLED", "MARKET") == []
    await check_at(engine, timedelta(minutes=21))
    await check_at(engine, timedelta(minutes=25))
    [stalled] = await events(engine, "SYNC_STALLED", "MARKET")
    assert stalled["syncIntervalMinutes"] == 10
    assert stalled["lastSyncAt"] is None
    assert stalled["channelId"]
    assert await events(engine, "SYNC_STALLED", "LIVE") == []
    status = (await admin(STATUS, {"channelCode": "MARKET"}))["channelSyncStatus"]
    assert status["stalled"] is True
    await published(engine)
    await admin(FEED, {"channelCode": "MARKET"})  # the connector pulls again
    [resumed] = await events(engine, "SYNC_RESUMED", "MARKET")
    assert resumed["lastSyncAt"] is not None
    assert (await admin(STATUS, {"channelCode": "MARKET"}))["channelSyncStatus"]["stalled"] is False
    await check_at(engine, timedelta(minutes=5))
    assert len(await events(engine, "SYNC_RESUMED", "MARKET")) == 1
    assert len(await events(engine, "SYNC_STALLED", "MARKET")) == 1
    # Silent again for two intervals after that pull: a new stall, one event.
    await check_at(engine, timedelta(minutes=21))
    await check_at(engine, timedelta(minutes=22))
    assert len(await events(engine, "SYNC_STALLED", "MARKET")) == 2


async def test_the_scheduler_loop_raises_the_stall_by_itself(
    admin: Client, engine: AsyncEngine
) -> None:
    # A one-second interval: stalled two seconds after the scheduler first sees it.
    await shop(admin, syncIntervalMinutes=1 / 60)
    async with asyncio.timeout(15):
        while not await events(engine, "SYNC_STALLED", "MARKET"):
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # the loop keeps visiting: still one event for this stall
    assert len(await events(engine, "SYNC_STALLED", "MARKET")) == 1
    await published(engine)
    await admin(FEED, {"channelCode": "MARKET"})
    assert len(await events(engine, "SYNC_RESUMED", "MARKET")) == 1


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    with serving(endpoint.app()) as url:
        yield endpoint, f"{url}/hook"


def batches(endpoint: Receiver) -> list[dict[str, Any]]:
    return [r.body for r in endpoint.succeeded() if r.body["topic"] == "CHANNEL_SYNC_BATCH"]


async def test_push_mode_posts_the_changes_as_one_signed_batch(
    admin: Client, engine: AsyncEngine, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    await shop(admin, syncIntervalMinutes=0.05)  # every 3 s
    await channels.channel(admin, "ELSEWHERE", ["DC-1"], kind="BATCH", syncIntervalMinutes=0.05)
    market = (await admin('{ channel(code: "MARKET") { id } }'))["channel"]["id"]
    # The stock's own events published first: the snapshot's cursor then covers them, so the
    # next batch holds only what changes after it (a snapshot taken while they were still in
    # flight would rightly send those products again, at the same values).
    await published(engine)
    hook = await webhook(admin, url, ["CHANNEL_SYNC_BATCH"], channelId=market)
    # The first batch is a snapshot of everything the channel sells, at its ATS now.
    await until(lambda: batches(endpoint), "a pushed batch", seconds=20)
    [first] = batches(endpoint)
    data = first["data"]
    assert data["channelCode"] == "MARKET"
    assert data["snapshot"] is True
    assert {i["sku"]: i["availableToSell"] for i in data["items"]} == {
        "FEED-A": 10,
        "FEED-B": 20,
        "FEED-C": 3,
        "FEED-D": 8,
        "FEED-E": 6,
    }
    received = endpoint.succeeded()[0]
    timestamp = int(received.headers["x-onhand-timestamp"])
    assert verify(hook["secret"], timestamp, received.raw, received.headers["x-onhand-signature"])
    # Then the changes: the changed product once, at its value now, in one batch.
    await adjust(admin, "FEED-B", "DC-1", -5)
    await adjust(admin, "FEED-B", "DC-1", -1)

    def with_changes() -> list[dict[str, Any]]:
        return [b for b in batches(endpoint)[1:] if b["data"]["items"]]

    await until(with_changes, "a batch with the changes", seconds=20)
    [change] = with_changes()
    assert change["data"]["snapshot"] is False
    assert [(i["sku"], i["availableToSell"]) for i in change["data"]["items"]] == [("FEED-B", 14)]
    # Only the channel's webhook gets its batches: ELSEWHERE has none, MARKET no others.
    assert {b["data"]["channelCode"] for b in batches(endpoint)} == {"MARKET"}
    # An accepted push counts as a sync and as the channel's acknowledgement of its cursor.
    await asyncio.sleep(0.5)
    status = await admin(
        'query { channelSyncStatus(channelCode: "MARKET") { lastPushAcceptedAt lagSeconds'
        " acknowledgedCursor pendingChanges } }"
    )
    synced = status["channelSyncStatus"]
    assert synced["lastPushAcceptedAt"] is not None
    assert int(synced["acknowledgedCursor"]) >= int(change["data"]["cursor"])
    assert synced["pendingChanges"] == 0
    # A connector may still acknowledge it itself.
    ack = await admin(
        'mutation($c: String!) { acknowledgeChannelSync(input: {channelCode: "MARKET", '
        "cursor: $c}) { errors { code } } }",
        {"c": change["data"]["cursor"]},
    )
    assert ack["acknowledgeChannelSync"]["errors"] == []
    await published(engine)
    # The pull-mode feed says the same as the push.
    page = await admin(FEED, {"channelCode": "MARKET", "after": first["data"]["cursor"]})
    assert values(page["channelFeed"]) == {"FEED-B": 14}


def test_the_scheduler_runs_in_the_server_and_in_onhand_worker() -> None:
    [loop] = runner.selected(["channel-sync"])
    assert loop in runner.LOOPS


async def test_concurrent_checkers_raise_one_stall(admin: Client, engine: AsyncEngine) -> None:
    await shop(admin, syncIntervalMinutes=10)
    await asyncio.gather(*(check_at(engine, timedelta(minutes=25)) for _ in range(6)))
    await check_at(engine, timedelta(minutes=26))
    assert len(await events(engine, "SYNC_STALLED", "MARKET")) == 1


async def test_only_the_channels_connector_or_an_admin_syncs_it(
    admin: Client, storefront: Client, connector: Any, engine: AsyncEngine
) -> None:
    await shop(admin, syncIntervalMinutes=10)
    await check_at(engine, timedelta(minutes=21))
    assert len(await events(engine, "SYNC_STALLED", "MARKET")) == 1
    await published(engine)
    # A storefront may look at the feed, but its read is not the channel's sync ...
    page = await storefront(FEED, {"channelCode": "MARKET"})
    assert values(page["channelFeed"])
    assert await events(engine, "SYNC_RESUMED", "MARKET") == []
    # ... nor may it acknowledge one.
    ack = await storefront(
        'mutation($c: String!) { acknowledgeChannelSync(input: {channelCode: "MARKET", '
        "cursor: $c}) { errors { code field } } }",
        {"c": page["channelFeed"]["cursor"]},
    )
    assert ack["acknowledgeChannelSync"]["errors"] == [
        {"code": "FORBIDDEN", "field": "channelCode"}
    ]
    # The channel's own connector's pull is.
    mine = await connector("MARKET")
    await mine(FEED, {"channelCode": "MARKET"})
    assert len(await events(engine, "SYNC_RESUMED", "MARKET")) == 1


async def test_a_dead_lettered_batch_is_sent_again_in_the_next(
    admin: Client, engine: AsyncEngine
) -> None:
    # Every attempt at the first batch fails (1 + 3 retries): it is dead-lettered.
    endpoint = Receiver(statuses=[500, 500, 500, 500])
    with serving(endpoint.app()) as base:
        await shop(admin, syncIntervalMinutes=0.05)  # every 3 s
        market = (await admin('{ channel(code: "MARKET") { id } }'))["channel"]["id"]
        await webhook(admin, f"{base}/hook", ["CHANNEL_SYNC_BATCH"], channelId=market)
        await until(lambda: batches(endpoint), "a batch sent again", seconds=30)
    [failed, *_] = [r for r in endpoint.received if r.status >= 500]
    [accepted] = batches(endpoint)[:1]
    # Nothing was accepted before: the batch after the dead one is the whole snapshot again,
    # not just what changed after the lost one.
    assert failed.body["data"]["snapshot"] is True
    assert accepted["data"]["snapshot"] is True
    assert values(accepted["data"]) == values(failed.body["data"])
    assert accepted["sequence"] > failed.body["sequence"]
    # One batch in flight at a time: the dead batch's four attempts all came before the next.
    attempts = [r.body["sequence"] for r in endpoint.received]
    assert attempts[:4] == [failed.body["sequence"]] * 4


async def test_a_backlog_of_batches_goes_out_back_to_back_not_one_per_interval(
    admin: Client, engine: AsyncEngine, receiver: tuple[Receiver, str], monkeypatch: Any
) -> None:
    # Five products per batch and 17 products: four batches, the first three saying hasMore.
    monkeypatch.setattr("onhand.workers.channel_sync.PUSH_LIMIT", 5)
    endpoint, url = receiver
    await shop(admin, syncIntervalMinutes=10)  # a batch every 10 minutes, were it not for this
    for n in range(12):
        await factories.stocked(admin, f"FEED-MORE-{n:02}", {"DC-1": n + 1})
    market = (await admin('{ channel(code: "MARKET") { id } }'))["channel"]["id"]
    await published(engine)
    await webhook(admin, url, ["CHANNEL_SYNC_BATCH"], channelId=market)
    # The channel's interval comes round (it was visited when made, before it had a webhook).
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE channel_sync SET next_due_at = now()"))

    def done() -> bool:
        sent = batches(endpoint)
        return bool(sent) and sent[-1]["data"]["hasMore"] is False

    # The whole backlog within seconds: each batch follows the one before once it is accepted.
    await until(
        done,
        "every batch of the backlog",
        seconds=20,
        explain=lambda: (
            str([(b["sequence"], b["data"]["hasMore"]) for b in batches(endpoint)])
            + str([(r.status, r.body["topic"]) for r in endpoint.received])
        ),
    )
    sent = [b["data"] for b in batches(endpoint)]
    assert [b["hasMore"] for b in sent] == [True, True, True, False]
    assert [len(b["items"]) for b in sent] == [5, 5, 5, 2]
    skus = [i["sku"] for b in sent for i in b["items"]]
    assert len(skus) == len(set(skus)) == 17
    assert values({"items": [i for b in sent for i in b["items"]]})["FEED-MORE-11"] == 12
    # In order: each batch's sequence after the one before.
    sequences = [b["sequence"] for b in batches(endpoint)]
    assert sequences == sorted(sequences)


async def test_changes_made_while_a_slow_endpoint_takes_a_batch_follow_it_at_once(
    admin: Client, engine: AsyncEngine, receiver: tuple[Receiver, str]
) -> None:
    endpoint, url = receiver
    endpoint.delay = 4.0  # each batch takes the endpoint four seconds
    await shop(admin, syncIntervalMinutes=10)
    market = (await admin('{ channel(code: "MARKET") { id } }'))["channel"]["id"]
    await published(engine)
    await webhook(admin, url, ["CHANNEL_SYNC_BATCH"], channelId=market)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE channel_sync SET next_due_at = now()"))
    await until(lambda: endpoint.begun, "the snapshot on its way", seconds=20)
    # A change, and the channel's interval comes round while the snapshot is still on its way.
    await adjust(admin, "FEED-B", "DC-1", -5)
    await published(engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE channel_sync SET next_due_at = now()"))

    def with_the_change() -> list[dict[str, Any]]:
        return [b for b in batches(endpoint) if not b["data"]["snapshot"] and b["data"]["items"]]

    # The change follows the snapshot once it is accepted, not an interval (10 minutes) later.
    await until(with_the_change, "the change's batch", seconds=20)
    [change] = with_the_change()
    assert [(i["sku"], i["availableToSell"]) for i in change["data"]["items"]] == [("FEED-B", 15)]
    assert [b["data"]["snapshot"] for b in batches(endpoint)] == [True, False]
