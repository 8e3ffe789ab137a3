"""Live events over WebSocket: a committed change reaches subscribers, in order."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from support import factories
from support.client import Client
from support.database import published
from support.factories import adjust
from support.ws import UPDATED, Subscriber


async def test_a_subscriber_gets_the_event_of_a_committed_mutation(
    admin: Client, base_url: str, tokens: dict[Role, str], engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "SUB-1", {"DC-1": 10})
    await published(engine)  # the level's creation is not news to a later subscriber
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        await subscriber.subscribe(UPDATED, {"skus": ["SUB-1"]})
        await adjust(admin, "SUB-1", "DC-1", 5)
        event = (await subscriber.next())["data"]["inventoryUpdated"]
    assert event["oldQuantity"] == 10
    assert event["newQuantity"] == 15
    assert event["movementType"] == "RECEIPT"
    assert event["product"] == {"sku": "SUB-1"}
    assert event["warehouse"] == {"code": "DC-1"}
    assert event["actor"] == "test-admin"


async def test_resubscribing_with_after_replays_exactly_what_was_missed_then_goes_live(
    admin: Client, base_url: str, tokens: dict[Role, str]
) -> None:
    await factories.stocked(admin, "SUB-2", {"DC-1": 0})
    token = tokens[Role.STOREFRONT]
    async with Subscriber(base_url, token) as subscriber:
        await subscriber.subscribe(UPDATED, {"skus": ["SUB-2"]})
        await adjust(admin, "SUB-2", "DC-1", 1)
        first = (await subscriber.next())["data"]["inventoryUpdated"]
    # Disconnected: these happen while nobody listens (and others' changes in between).
    await factories.stocked(admin, "OTHER", {"DC-1": 3})
    for delta in (2, 3, 4):
        await adjust(admin, "SUB-2", "DC-1", delta)
        await adjust(admin, "OTHER", "DC-1", 1)
    async with Subscriber(base_url, token) as subscriber:
        await subscriber.subscribe(UPDATED, {"skus": ["SUB-2"], "after": first["sequence"]})
        missed = [(await subscriber.next())["data"]["inventoryUpdated"] for _ in range(3)]
        await adjust(admin, "SUB-2", "DC-1", 5)
        live = (await subscriber.next())["data"]["inventoryUpdated"]
        await subscriber.ready()  # nothing else arrived before the pong: no duplicate
    assert [e["newQuantity"] for e in missed] == [3, 6, 10]
    assert live["newQuantity"] == 15
    sequences = [first["sequence"]] + [e["sequence"] for e in missed] + [live["sequence"]]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)


async def test_filters_keep_other_products_out(
    admin: Client, base_url: str, tokens: dict[Role, str]
) -> None:
    await factories.stocked(admin, "WANTED", {"DC-1": 0})
    await factories.stocked(admin, "UNWANTED", {"DC-1": 0})
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        await subscriber.subscribe(UPDATED, {"skus": ["WANTED"]})
        await adjust(admin, "UNWANTED", "DC-1", 7)
        await adjust(admin, "WANTED", "DC-1", 2)
        event = (await subscriber.next())["data"]["inventoryUpdated"]
    assert event["product"]["sku"] == "WANTED"


async def test_the_legacy_graphql_ws_protocol_works_too(
    admin: Client, base_url: str, tokens: dict[Role, str]
) -> None:
    await factories.stocked(admin, "SUB-3", {"DC-1": 0})
    async with Subscriber(base_url, tokens[Role.STOREFRONT], "graphql-ws") as subscriber:
        await subscriber.subscribe(UPDATED, {"skus": ["SUB-3"]})
        await asyncio.sleep(0.2)  # the legacy protocol has no ping to know it is listening
        await adjust(admin, "SUB-3", "DC-1", 4)
        event = (await subscriber.next())["data"]["inventoryUpdated"]
    assert event["newQuantity"] == 4


async def test_many_sockets_with_the_same_subscription_share_one_execution(
    admin: Client, base_url: str, tokens: dict[Role, str]
) -> None:
    await factories.stocked(admin, "SUB-4", {"DC-1": 0})
    subscribers = [Subscriber(base_url, tokens[Role.STOREFRONT]) for _ in range(20)]
    for subscriber in subscribers:
        await subscriber.__aenter__()
        await subscriber.subscribe(UPDATED, {"skus": ["SUB-4"]})
    try:
        await adjust(admin, "SUB-4", "DC-1", 9)
        events = [(await s.next())["data"]["inventoryUpdated"] for s in subscribers]
    finally:
        for subscriber in subscribers:
            await subscriber.__aexit__()
    assert {e["sequence"] for e in events} == {events[0]["sequence"]}
    assert all(e["newQuantity"] == 9 for e in events)


async def test_subscriptions_over_server_sent_events(
    admin: Client, http: httpx.AsyncClient, tokens: dict[Role, str]
) -> None:
    await factories.stocked(admin, "SUB-5", {"DC-1": 0})
    body = {"query": UPDATED, "variables": {"skus": ["SUB-5"]}}
    headers = {"Authorization": f"Bearer {tokens[Role.STOREFRONT]}", "Accept": "text/event-stream"}
    async with http.stream("POST", "/graphql", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        await asyncio.sleep(0.3)  # SSE gives no signal that the stream is listening
        await adjust(admin, "SUB-5", "DC-1", 6)
        data = None
        async with asyncio.timeout(10):
            async for line in lines:
                if line.startswith("data:"):
                    data = json.loads(line.removeprefix("data:"))
                    break
    assert data is not None
    assert data["data"]["inventoryUpdated"]["newQuantity"] == 6


POLL = """
query($after: Long!, $first: Int!) {
  inventoryChanges(after: $after, first: $first) {
    lastSequence hasMore
    events {
      sequence
      ... on InventoryUpdate { newQuantity product { sku } }
      ... on InventoryTransfer { quantity }
    }
  }
}"""


async def test_polling_returns_the_same_events_as_pages(admin: Client, storefront: Client) -> None:
    start = (await storefront("{ latestSequence }"))["latestSequence"]
    await factories.stocked(admin, "POLL", {"DC-1": 0, "DC-2": 0})
    for delta in (1, 2, 3):
        await adjust(admin, "POLL", "DC-1", delta)
    pages, after = [], start
    async with asyncio.timeout(10):
        while True:  # the relay publishes within milliseconds; wait for all of it
            page = (await storefront(POLL, {"after": after, "first": 2}))["inventoryChanges"]
            pages.append(page)
            after = page["lastSequence"]
            polled = [e for p in pages for e in p["events"] if "newQuantity" in e]
            if not page["hasMore"] and len(polled) >= 3:
                break
            if not page["events"]:
                await asyncio.sleep(0.05)
    events = [e for p in pages for e in p["events"]]
    assert [e["sequence"] for e in events] == list(range(start + 1, start + len(events) + 1))
    # Other events (alerts about these levels) come in the same stream.
    updates = [e["newQuantity"] for e in events if e.get("product", {}).get("sku") == "POLL"]
    assert updates[-3:] == [1, 3, 6]
    assert max(len(p["events"]) for p in pages) <= 2


TOPICAL = """
query($after: Long!, $topics: [EventTopic!]) {
  inventoryChanges(after: $after, first: 100, topics: $topics) { events { __typename } }
}"""


async def test_polling_by_topic_lists_only_those_and_refuses_an_unknown_topic(
    admin: Client, storefront: Client
) -> None:
    start = (await storefront("{ latestSequence }"))["latestSequence"]
    await factories.stocked(admin, "TOPIC", {"DC-1": 0})
    await adjust(admin, "TOPIC", "DC-1", 4)
    async with asyncio.timeout(10):
        while True:
            page = await storefront(TOPICAL, {"after": start, "topics": ["INVENTORY_UPDATED"]})
            kinds = [e["__typename"] for e in page["inventoryChanges"]["events"]]
            if kinds:
                break
            await asyncio.sleep(0.05)
    assert set(kinds) == {"InventoryUpdate"}
    refused = await storefront.raw(TOPICAL, {"after": start, "topics": ["INVENTORY_UPDATE"]})
    [error] = refused["errors"]
    assert "INVENTORY_UPDATE" in error["message"]
    assert "data" not in refused or refused["data"] is None
