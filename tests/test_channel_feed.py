"""The channel change feed: a snapshot, then each changed product once with its ATS now;
acknowledgements and sync status; channel-bound connectors; expired cursors; the
channelAvailabilityChanged subscription."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.channels import availability
from onhand.inventory.channels import feed as channel_feed
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from support import channels, factories
from support.channels import FEED, STATUS, shop, values
from support.client import Client, Connector, operation
from support.database import published
from support.factories import adjust
from support.ws import Subscriber

ACK = operation("AcknowledgeChannelSync")
CHANGED = """
subscription($code: String, $after: Long) {
  channelAvailabilityChanged(channelCode: $code, after: $after) {
    sku availableToSell sequence product { sku } channel { code }
  }
}"""


async def feed(client: Client, code: str | None, **variables: Any) -> dict[str, Any]:
    data = await client(FEED, {"channelCode": code, **variables})
    return dict(data["channelFeed"])


async def all_pages(client: Client, code: str, after: str | None, first: int) -> list[dict]:
    pages = []
    while True:
        page = await feed(client, code, after=after, first=first)
        pages.append(page)
        after = page["cursor"]
        if not page["hasMore"]:
            return pages


async def set_allocation(admin: Client, code: str, sku: str, quantity: int) -> None:
    await admin.mutate(
        "setChannelInventory",
        operation("SetChannelInventory"),
        {"input": {"sku": sku, "channelCode": code, "allocatedQuantity": quantity}},
    )


async def test_a_snapshot_lists_every_product_the_channel_can_sell_once_with_its_ats(
    admin: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await channels.channel(admin, "BUFFERED", ["DC-1", "DC-2"], safetyBufferPercent=10)
    await published(engine)
    [page] = await all_pages(admin, "MARKET", None, 1000)
    assert page["snapshot"] is True
    assert page["hasMore"] is False
    assert values(page) == {"FEED-A": 10, "FEED-B": 20, "FEED-C": 3, "FEED-D": 8, "FEED-E": 6}
    assert len(page["items"]) == 5
    # The values are those the ATS computation gives (a buffer percent, two warehouses).
    [other] = await all_pages(admin, "BUFFERED", None, 1000)
    for sku, ats in values(other).items():
        assert ats == (await channels.ats(admin, "BUFFERED", sku))["availableToSell"]
    assert values(other)["FEED-C"] == 43 - 5  # 10% of 43, rounded up
    assert len(other["items"]) == 6
    # The last page's cursor continues the feed: nothing has changed since.
    after = await feed(admin, "MARKET", after=page["cursor"])
    assert after["items"] == []
    assert after["snapshot"] is False


async def test_after_changes_the_feed_has_each_changed_product_once_at_its_current_value(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await published(engine)
    [snapshot] = await all_pages(admin, "MARKET", None, 1000)
    await adjust(admin, "FEED-A", "DC-1", 5)
    await adjust(admin, "FEED-A", "DC-1", -2)
    reserved = await channels.reserve(
        storefront,
        sku="FEED-B",
        warehouseCode="DC-1",
        channelCode="MARKET",
        quantity=4,
        type="CART",
    )
    assert not reserved["errors"], reserved
    await set_allocation(admin, "MARKET", "FEED-D", 2)
    await adjust(admin, "FEED-C", "DC-2", 7)  # not the channel's warehouse
    await adjust(admin, "FEED-F", "DC-2", 1)  # not sellable on the channel at all
    await published(engine)
    page = await feed(admin, "MARKET", after=snapshot["cursor"])
    assert page["hasMore"] is False
    assert [item["sku"] for item in page["items"]].count("FEED-A") == 1
    assert values(page) == {"FEED-A": 13, "FEED-B": 16, "FEED-D": 2}
    for sku, ats in values(page).items():
        assert ats == (await channels.ats(admin, "MARKET", sku))["availableToSell"]
    # Read again from the same cursor: the same answer; from the new one: nothing.
    assert values(await feed(admin, "MARKET", after=snapshot["cursor"])) == values(page)
    assert (await feed(admin, "MARKET", after=page["cursor"]))["items"] == []


async def test_pages_of_first_products_cover_every_change_once(
    admin: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await published(engine)
    snapshot = await all_pages(admin, "MARKET", None, 2)
    assert [len(p["items"]) for p in snapshot] == [2, 2, 1]
    assert [p["hasMore"] for p in snapshot] == [True, True, False]
    assert all(p["snapshot"] for p in snapshot)
    skus = [item["sku"] for p in snapshot for item in p["items"]]
    assert sorted(skus) == ["FEED-A", "FEED-B", "FEED-C", "FEED-D", "FEED-E"]
    for sku in ("FEED-E", "FEED-A", "FEED-D", "FEED-B", "FEED-A", "FEED-C"):
        await adjust(admin, sku, "DC-1", 1)
    await published(engine)
    pages = await all_pages(admin, "MARKET", snapshot[-1]["cursor"], 2)
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    changed = [item["sku"] for p in pages for item in p["items"]]
    # In the order they last changed, each once.
    assert changed == ["FEED-E", "FEED-D", "FEED-B", "FEED-A", "FEED-C"]
    assert values(pages[1])["FEED-A"] == 12  # its value now, both changes included
    bad = await admin.raw(FEED, {"channelCode": "MARKET", "first": 0})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_acknowledging_the_cursor_brings_pending_changes_to_zero(
    admin: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await published(engine)
    before = (await admin(STATUS, {"channelCode": "MARKET"}))["channelSyncStatus"]
    assert before["lastPullAt"] is None
    assert before["pendingChanges"] is None
    [snapshot] = await all_pages(admin, "MARKET", None, 1000)
    acked = await admin.mutate(
        "acknowledgeChannelSync",
        ACK,
        {"input": {"channelCode": "MARKET", "cursor": snapshot["cursor"]}},
    )
    assert acked["status"] == {"acknowledgedCursor": snapshot["cursor"], "pendingChanges": 0}
    await adjust(admin, "FEED-A", "DC-1", 1)
    await adjust(admin, "FEED-A", "DC-1", 1)
    await adjust(admin, "FEED-B", "DC-1", 1)
    await published(engine)
    status = (await admin(STATUS, {"channelCode": "MARKET"}))["channelSyncStatus"]
    assert status["pendingChanges"] == 2
    assert status["sequencesBehind"] >= 3  # every event since, whatever it concerns
    assert status["lastPullAt"] is not None
    assert 0 <= status["lagSeconds"] < 30
    assert status["stalled"] is False
    page = await feed(admin, "MARKET", after=snapshot["cursor"])
    acked = await admin.mutate(
        "acknowledgeChannelSync",
        ACK,
        {"input": {"channelCode": "MARKET", "cursor": page["cursor"]}},
    )
    assert acked["status"]["pendingChanges"] == 0
    status = (await admin(STATUS, {"channelCode": "MARKET"}))["channelSyncStatus"]
    assert status["acknowledgedCursor"] == page["cursor"]
    assert status["pendingChanges"] == 0
    # Background work (the alert evaluator) may have written events since the page, none of
    # them about this channel's stock: they count as sequences behind, not as changes.
    behind = int(status["latestCursor"]) - int(page["cursor"])
    assert status["sequencesBehind"] == behind
    assert behind >= 0


async def test_an_acknowledgement_ahead_of_the_feed_or_going_back_is_refused(
    admin: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await published(engine)
    snapshot = await all_pages(admin, "MARKET", None, 2)
    handed = int(snapshot[-1]["cursor"])

    async def ack(cursor: str) -> list[dict]:
        body = await admin(ACK, {"input": {"channelCode": "MARKET", "cursor": cursor}})
        return list(body["acknowledgeChannelSync"]["errors"])

    [ahead] = await ack(str(handed + 1))
    assert ahead["code"] == "INVALID_CURSOR"
    assert ahead["field"] == "cursor"
    [partial] = await ack(snapshot[0]["cursor"])  # a snapshot still being read
    assert partial["code"] == "INVALID_CURSOR"
    [garbage] = await ack("not-a-cursor")
    assert garbage["code"] == "INVALID"
    assert garbage["field"] == "cursor"
    status = (await admin(STATUS, {"channelCode": "MARKET"}))["channelSyncStatus"]
    assert status["acknowledgedCursor"] is None  # nothing was recorded
    assert await ack(str(handed)) == []
    assert await ack(str(handed)) == []  # again: harmless
    [back] = await ack(str(handed - 1))
    assert back["code"] == "INVALID_CURSOR"
    [unknown] = await ack_unknown(admin)
    assert unknown["code"] == "NOT_FOUND"
    status = (await admin(STATUS, {"channelCode": "MARKET"}))["channelSyncStatus"]
    assert status["acknowledgedCursor"] == str(handed)


async def ack_unknown(admin: Client) -> list[dict]:
    body = await admin(ACK, {"input": {"channelCode": "NOPE", "cursor": "1"}})
    return list(body["acknowledgeChannelSync"]["errors"])


async def test_a_cursor_past_retention_or_ahead_of_the_feed_is_an_error(
    admin: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await published(engine)
    [snapshot] = await all_pages(admin, "MARKET", None, 1000)
    await adjust(admin, "FEED-A", "DC-1", 1)
    await adjust(admin, "FEED-B", "DC-1", 1)
    await published(engine)
    ahead = await admin.raw(
        FEED, {"channelCode": "MARKET", "after": str(int(snapshot["cursor"]) + 99)}
    )
    assert ahead["errors"][0]["extensions"]["code"] == "INVALID"
    # Retention deletes the oldest events (as the relay does after the retention period).
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM outbox WHERE sequence <= :s"), {"s": int(snapshot["cursor"]) + 1}
        )
    expired = await admin.raw(FEED, {"channelCode": "MARKET", "after": snapshot["cursor"]})
    error = expired["errors"][0]
    assert error["extensions"]["code"] == "CURSOR_EXPIRED"
    assert "snapshot" in error["message"]
    # A new snapshot still works.
    assert len((await feed(admin, "MARKET"))["items"]) == 5


async def test_a_connector_reads_only_its_own_channel(
    admin: Client, connector: Connector, base_url: str, engine: AsyncEngine
) -> None:
    await shop(admin)
    await channels.channel(admin, "OTHER", ["DC-1"], kind="BATCH")
    await published(engine)
    mine = await connector("MARKET")
    own = await feed(mine, None)  # its own channel by default
    assert own["channel"]["code"] == "MARKET"
    assert len(own["items"]) == 5
    assert (await mine(STATUS, {"channelCode": None}))["channelSyncStatus"][
        "lastPullAt"
    ] is not None
    for query in (FEED, STATUS):
        refused = await mine.raw(query, {"channelCode": "OTHER"})
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert refused["data"] is None
    body = await mine(ACK, {"input": {"channelCode": "OTHER", "cursor": own["cursor"]}})
    [error] = body["acknowledgeChannelSync"]["errors"]
    assert error["code"] == "FORBIDDEN"
    assert (await admin(STATUS, {"channelCode": "OTHER"}))["channelSyncStatus"][
        "lastPullAt"
    ] is None
    async with Subscriber(base_url, mine.token) as subscriber:
        await subscriber.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": CHANGED, "variables": {"code": "OTHER"}},
            }
        )
        message = await subscriber.receive()
        assert message["type"] == "next"
        [error] = message["payload"]["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"


async def test_channel_availability_changed_delivers_the_new_ats_over_websocket(
    admin: Client, base_url: str, connector: Connector, engine: AsyncEngine
) -> None:
    await shop(admin)
    # From after the setup's own events: they are not what this test waits for.
    await published(engine)
    latest = (await admin("{ latestSequence }"))["latestSequence"]
    mine = await connector("MARKET")
    async with Subscriber(base_url, mine.token) as subscriber:
        await subscriber.subscribe(CHANGED, {"code": "MARKET", "after": latest})
        await adjust(admin, "FEED-F", "DC-2", 5)  # not on the channel: nothing
        await adjust(admin, "FEED-A", "DC-1", 4)
        change = (await subscriber.next())["data"]["channelAvailabilityChanged"]
        assert change["sku"] == "FEED-A"
        assert change["availableToSell"] == 14
        assert change["product"] == {"sku": "FEED-A"}
        assert change["channel"] == {"code": "MARKET"}
        await set_allocation(admin, "MARKET", "FEED-B", 7)
        change = (await subscriber.next())["data"]["channelAvailabilityChanged"]
        assert (change["sku"], change["availableToSell"]) == ("FEED-B", 7)
        first_sequence = change["sequence"]
    # Replay after a sequence: the events since, at the value now.
    async with Subscriber(base_url, mine.token) as subscriber:
        await subscriber.subscribe(CHANGED, {"after": first_sequence - 1})
        change = (await subscriber.next())["data"]["channelAvailabilityChanged"]
        assert (change["sku"], change["availableToSell"]) == ("FEED-B", 7)


async def test_the_feed_reads_the_same_ats_inputs_as_a_products_availability(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await shop(admin)
    await channels.channel(admin, "PERCENT", ["DC-1", "DC-2"], safetyBufferPercent=7.5)
    await channels.channel(admin, "OFF", ["DC-1"], isActive=False)
    # Safety stock above the level's stock (negative available), allocations with and
    # without a buffer, holds, an inactive product.
    await factories.stocked(admin, "FEED-G", {"DC-1": 2, "DC-2": 9}, safetyStock=5)
    await set_allocation(admin, "PERCENT", "FEED-A", 4)
    await admin.mutate(
        "setChannelInventory",
        operation("SetChannelInventory"),
        {
            "input": {
                "sku": "FEED-B",
                "channelCode": "PERCENT",
                "allocatedQuantity": 15,
                "bufferQuantity": 3,
            }
        },
    )
    held = await channels.reserve(
        storefront, sku="FEED-B", warehouseCode="DC-1", channelCode="PERCENT", quantity=2
    )
    assert not held["errors"], held
    product = (await admin('{ product(sku: "FEED-E") { id } }'))["product"]["id"]
    updated = await admin(
        "mutation($id: ID!) { updateProduct(input: {id: $id, isActive: false}) "
        "{ errors { code } } }",
        {"id": product},
    )
    assert updated["updateProduct"]["errors"] == []
    async with engine.connect() as conn:
        ids = list((await conn.execute(text("SELECT id FROM products"))).scalars())
        for code in ("MARKET", "PERCENT", "OFF"):
            channel = await resolve_channel(conn, ChannelRef(key=code))
            expected = await availability.availability(conn, [channel], ids)
            found = await channel_feed.current_items(conn, channel, ids)
            assert len(found) == len(ids)
            for item in found:
                assert (
                    item.available_to_sell
                    == expected[(channel.id, item.product_id)].available_to_sell
                ), (
                    code,
                    item,
                )
            # The snapshot lists what the channel can sell: stocked or allocated products.
            snapshot = await channel_feed.snapshot_items(conn, channel, None, 1000)
            assert snapshot, code
            for item in snapshot:
                ats = expected[(channel.id, item.product_id)].available_to_sell
                assert item.available_to_sell == ats, (code, item)
        percent = await resolve_channel(conn, ChannelRef(key="PERCENT"))
        by_sku = {
            i.sku: i.available_to_sell for i in await channel_feed.current_items(conn, percent, ids)
        }
    assert by_sku["FEED-A"] == 4  # allocated, no buffer
    assert by_sku["FEED-B"] == 15 - 2 - 3  # allocation less holds less its buffer
    assert by_sku["FEED-C"] == 43 - 4  # 7.5% of 43 = 3.225, rounded up
    assert by_sku["FEED-E"] == 0  # inactive product


async def test_a_burst_of_changes_ends_with_each_products_figure_now_in_sequence_order(
    admin: Client, base_url: str, connector: Connector, engine: AsyncEngine
) -> None:
    """Changes arriving together are read together: a product's figure may be sent once for
    several of its changes, but always current, never the same value twice in a row, and in
    the order of the events, so that `after:` the last sequence seen resumes exactly."""
    await shop(admin)
    await published(engine)
    latest = (await admin("{ latestSequence }"))["latestSequence"]
    mine = await connector("MARKET")
    skus = ["FEED-A", "FEED-B", "FEED-D", "FEED-E"]
    async with Subscriber(base_url, mine.token) as subscriber:
        await subscriber.subscribe(CHANGED, {"code": "MARKET", "after": latest})
        await asyncio.gather(*(adjust(admin, sku, "DC-1", n) for n in (1, 2, 3) for sku in skus))
        final = {sku: (await channels.ats(admin, "MARKET", sku))["availableToSell"] for sku in skus}
        seen: dict[str, int] = {}
        sequences = []
        while seen != final:
            change = (await subscriber.next())["data"]["channelAvailabilityChanged"]
            assert seen.get(change["sku"]) != change["availableToSell"], change
            seen[change["sku"]] = change["availableToSell"]
            sequences.append(change["sequence"])
    assert final == {"FEED-A": 16, "FEED-B": 26, "FEED-D": 14, "FEED-E": 12}
    assert sequences == sorted(set(sequences))
    assert len(sequences) <= 3 * len(skus)
