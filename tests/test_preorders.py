"""Preorders: accepted up to a cap (per product or per level) before stock exists, counted
against the cap and never against stock; converted to ORDER reservations when stock is
received, oldest first, in the receipt's transaction, with their events; concurrent preorders
never pass the cap."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.auth.roles import Role
from onhand.core.refs import Ref
from onhand.inventory.group_commit import GroupCommit
from onhand.inventory.ledger import ChangeContext, MovementSource, lock_preorder_channels
from onhand.inventory.stock import Adjust, Adjusted, adjust
from support import factories
from support.channels import ats, channel, check_invariants, level
from support.client import Client, Connector, clients, operation
from support.waiting import until, waiting_for_a_lock

SET_CAP = operation("SetPreorderCap")
CREATE = operation("CreatePreorder")
RELEASE = operation("ReleasePreorder")
CAPS = operation("PreorderCaps")
LIST = operation("Preorders")
CHANGES = """
query($after: Long!) {
  inventoryChanges(after: $after, topics: [PREORDER_CHANGED], first: 100) {
    events {
      ... on PreorderChange {
        kind preorderId status quantity referenceId reservationId
        product { sku } warehouse { code }
      }
    }
  }
}"""


async def set_cap(admin: Client, sku: str, cap: int | None, **where: Any) -> dict[str, Any]:
    body = await admin(SET_CAP, {"input": {"sku": sku, "cap": cap, **where}})
    return dict(body["setPreorderCap"])


async def preorder(client: Client, sku: str, quantity: int, **values: Any) -> dict[str, Any]:
    body = await client(CREATE, {"input": {"sku": sku, "quantity": quantity, **values}})
    return dict(body["createPreorder"])


async def caps(client: Client, sku: str) -> list[dict[str, Any]]:
    return list((await client(CAPS, {"skus": [sku]}))["preorderCaps"])


async def listed(client: Client, **filters: Any) -> list[dict[str, Any]]:
    return list((await client(LIST, filters))["preorders"]["nodes"])


async def test_preorders_count_against_the_cap_never_against_stock(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "NEW-1", {"DC-1": 4})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    [none] = (await preorder(storefront, "NEW-1", 1))["errors"]
    assert (none["code"], none["field"]) == ("PREORDERS_NOT_ACCEPTED", "sku")
    made = await set_cap(admin, "NEW-1", 10)
    assert made["preorderCap"] == {
        "cap": 10,
        "preordered": 0,
        "remaining": 10,
        "version": 1,
        "warehouse": None,
    }
    first = await preorder(storefront, "NEW-1", 6, referenceId="order-1", channelCode="WEB")
    assert first["errors"] == []
    assert first["preorder"]["status"] == "ACTIVE"
    [over] = (await preorder(storefront, "NEW-1", 5, referenceId="order-2"))["errors"]
    assert (over["code"], over["field"]) == ("PREORDER_CAP_EXCEEDED", "quantity")
    assert (over["limit"], over["available"], over["requested"]) == (10, 4, 5)
    # Stock on hand and what the channel may sell are untouched by preorders.
    assert (await level(engine, "NEW-1", "DC-1"))["available"] == 4
    assert (await ats(storefront, "WEB", "NEW-1"))["availableToSell"] == 4
    [cap] = await caps(storefront, "NEW-1")
    assert (cap["cap"], cap["preordered"], cap["remaining"]) == (10, 6, 4)
    # Released, a preorder gives its room back; it cannot be released twice.
    released = await storefront(RELEASE, {"input": {"id": first["preorder"]["id"]}})
    assert released["releasePreorder"]["preorder"]["status"] == "RELEASED"
    again = await storefront(RELEASE, {"input": {"id": first["preorder"]["id"]}})
    assert again["releasePreorder"]["errors"][0]["code"] == "INVALID_TRANSITION"
    assert (await caps(storefront, "NEW-1"))[0]["remaining"] == 10
    # A retried preorder (the same idempotency key) is the first one, counted once; the key
    # with another request is refused.
    once = await preorder(storefront, "NEW-1", 3, referenceId="order-3", idempotencyKey="k-3")
    twice = await preorder(storefront, "NEW-1", 3, referenceId="order-3", idempotencyKey="k-3")
    assert once["errors"] == twice["errors"] == []
    assert once["preorder"]["id"] == twice["preorder"]["id"]
    [reused] = (await preorder(storefront, "NEW-1", 4, idempotencyKey="k-3"))["errors"]
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED"
    # Lowering the cap below what waits takes no more and releases nothing; clearing it
    # stops preorders.
    lowered = await set_cap(admin, "NEW-1", 2)
    assert lowered["preorderCap"]["remaining"] == 0
    assert lowered["preorderCap"]["preordered"] == 3
    assert lowered["preorderCap"]["version"] == 2
    assert (await set_cap(admin, "NEW-1", None)) == {"preorderCap": None, "errors": []}
    assert await caps(storefront, "NEW-1") == []
    [closed] = (await preorder(storefront, "NEW-1", 1))["errors"]
    assert closed["code"] == "PREORDERS_NOT_ACCEPTED"
    await check_invariants(engine)


async def test_bad_preorders_and_caps_are_refused_naming_the_field(
    admin: Client, storefront: Client, connector: Connector
) -> None:
    await factories.stocked(admin, "NEW-2", {"DC-1": 0})
    await channel(admin, "WEB", ["DC-1"])
    await set_cap(admin, "NEW-2", 5)
    for quantity, code in ((0, "INVALID"), (-2, "INVALID")):
        [error] = (await preorder(storefront, "NEW-2", quantity))["errors"]
        assert (error["code"], error["field"]) == (code, "quantity")
    [error] = (await set_cap(admin, "NEW-2", -1))["errors"]
    assert (error["code"], error["field"]) == ("INVALID", "cap")
    [error] = (await preorder(storefront, "NOPE", 1))["errors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", "sku")
    # A level without a cap of its own takes no preorders, even if the product's does.
    [error] = (await preorder(storefront, "NEW-2", 1, warehouseCode="DC-1"))["errors"]
    assert (error["code"], error["field"]) == ("PREORDERS_NOT_ACCEPTED", "warehouseCode")
    [error] = (await preorder(storefront, "NEW-2", 1, referenceId="x" * 201))["errors"]
    assert (error["code"], error["field"]) == ("INVALID", "referenceId")
    [error] = (await set_cap(storefront, "NEW-2", 9))["errors"]
    assert error["code"] == "FORBIDDEN"
    # A token bound to a channel releases only its channel's preorders.
    waiting = await preorder(admin, "NEW-2", 1)
    web: Client = await connector("WEB")
    refused = await web(RELEASE, {"input": {"id": waiting["preorder"]["id"]}})
    assert refused["releasePreorder"]["errors"][0]["code"] == "FORBIDDEN"
    assert [p["status"] for p in await listed(admin, sku="NEW-2")] == ["ACTIVE"]
    # Nothing refused changed anything: the cap is as set, the one preorder made counts.
    [cap] = await caps(storefront, "NEW-2")
    assert (cap["cap"], cap["preordered"]) == (5, 1)


async def test_received_stock_converts_waiting_preorders_oldest_first(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "NEW-3", {"DC-1": 0, "DC-2": 0})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    await set_cap(admin, "NEW-3", 20)
    await set_cap(admin, "NEW-3", 5, warehouseCode="DC-2")
    start = (await admin("{ latestSequence }"))["latestSequence"]
    a = await preorder(storefront, "NEW-3", 3, referenceId="order-a", channelCode="WEB")
    b = await preorder(storefront, "NEW-3", 4, referenceId="order-b")
    c = await preorder(storefront, "NEW-3", 2, referenceId="order-c")
    d = await preorder(storefront, "NEW-3", 1, referenceId="order-d", warehouseCode="DC-2")
    assert [p["errors"] for p in (a, b, c, d)] == [[], [], [], []]

    # 6 arrive at DC-1: the oldest (3) converts; the next (4) does not fit in what is left,
    # and the one after it (2) may not jump the queue. DC-2's own preorder waits for DC-2.
    await factories.adjust(admin, "NEW-3", "DC-1", 6)
    dc1 = await level(engine, "NEW-3", "DC-1")
    assert (dc1["on_hand"], dc1["committed"], dc1["available"]) == (6, 3, 3)
    statuses = {p["referenceId"]: p["status"] for p in await listed(admin, sku="NEW-3")}
    assert statuses == {
        "order-a": "CONVERTED",
        "order-b": "ACTIVE",
        "order-c": "ACTIVE",
        "order-d": "ACTIVE",
    }
    [converted] = await listed(admin, referenceId="order-a")
    assert converted["warehouse"] == {"code": "DC-1"}
    reservation = converted["reservation"]
    assert (reservation["type"], reservation["status"]) == ("ORDER", "ACTIVE")
    assert (reservation["quantity"], reservation["referenceId"]) == (3, "order-a")
    # The channel it was taken on holds it now: it sells 3 fewer.
    assert (await ats(storefront, "WEB", "NEW-3"))["availableToSell"] == 3
    [product_cap, level_cap] = await caps(storefront, "NEW-3")
    assert (product_cap["preordered"], level_cap["preordered"]) == (6, 1)

    # 5 more (a set this time, through the same write path): the next two convert.
    await admin.mutate(
        "setInventoryLevel",
        operation("SetInventoryLevel"),
        {"input": {"sku": "NEW-3", "warehouseCode": "DC-1", "quantity": 11}},
    )
    dc1 = await level(engine, "NEW-3", "DC-1")
    assert (dc1["on_hand"], dc1["committed"], dc1["available"]) == (11, 9, 2)
    await factories.adjust(admin, "NEW-3", "DC-2", 1)
    assert (await level(engine, "NEW-3", "DC-2"))["committed"] == 1
    assert await listed(admin, sku="NEW-3", statuses=["ACTIVE"]) == []
    assert [c["remaining"] for c in await caps(storefront, "NEW-3")] == [20, 5]

    async def all_published() -> bool:
        found = await admin(CHANGES, {"after": start})
        return len(found["inventoryChanges"]["events"]) == 8

    # Each receipt and the conversions it caused are one transaction (adjustInventory's
    # one-statement group commit included: it hands such a receipt to a transaction).
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT o.txid::text AS txid, array_agg(DISTINCT o.topic ORDER BY o.topic)"
                " AS topics FROM outbox o JOIN products p ON p.id = o.product_id"
                " WHERE p.sku = 'NEW-3' AND o.txid IN (SELECT txid FROM outbox"
                "   WHERE topic = 'PREORDER_CHANGED' AND payload->>'kind' = 'CONVERTED')"
                " GROUP BY o.txid"
            )
        )
        together = [row.topics for row in rows]
    assert together == [["INVENTORY_UPDATED", "PREORDER_CHANGED", "RESERVATION_CHANGED"]] * 3
    await until(all_published, "4 preorders made and 4 converted, published")
    events = (await admin(CHANGES, {"after": start}))["inventoryChanges"]["events"]
    assert [(e["kind"], e["referenceId"]) for e in events[4:]] == [
        ("CONVERTED", "order-a"),
        ("CONVERTED", "order-b"),
        ("CONVERTED", "order-c"),
        ("CONVERTED", "order-d"),
    ]
    assert all(e["reservationId"] for e in events[4:])
    assert events[4]["warehouse"] == {"code": "DC-1"}
    await check_invariants(engine)


async def test_concurrent_preorders_never_pass_the_cap(
    admin: Client, base_url: str, tokens: dict[Role, str], engine: AsyncEngine
) -> None:
    """14 clients ask 21 units at once of a cap of 9: each preorder counts what waits under
    its cap's lock, so the cap is filled to within one unit and never passed."""
    await factories.stocked(admin, "NEW-4", {"DC-1": 0})
    await set_cap(admin, "NEW-4", 9)
    async with (
        clients(base_url, tokens[Role.STOREFRONT], 7) as first,
        clients(base_url, tokens[Role.OPERATOR], 7) as second,
    ):
        outcomes = await asyncio.gather(
            *(
                preorder(client, "NEW-4", 1 + i % 2, referenceId=f"order-{i}")
                for i, client in enumerate([*first, *second])
            )
        )
    taken = sum(o["preorder"]["quantity"] for o in outcomes if not o["errors"])
    refusals = [o["errors"][0] for o in outcomes if o["errors"]]
    assert {e["code"] for e in refusals} == {"PREORDER_CAP_EXCEEDED"}
    assert 8 <= taken <= 9
    [cap] = await caps(admin, "NEW-4")
    assert (cap["preordered"], cap["remaining"]) == (taken, 9 - taken)
    assert sum(p["quantity"] for p in await listed(admin, sku="NEW-4")) == taken
    await check_invariants(engine)


async def test_receipts_converting_preorders_race_with_reservations_without_overselling(
    admin: Client, base_url: str, tokens: dict[Role, str], engine: AsyncEngine
) -> None:
    """Receipts convert preorders while carts reserve the same product on the same channel:
    whatever order they meet in, every unit is held once, and the ledger and the reservations
    explain it all."""
    await factories.stocked(admin, "NEW-5", {"DC-1": 0})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    await set_cap(admin, "NEW-5", 10)
    for i in range(5):
        made = await preorder(admin, "NEW-5", 2, referenceId=f"pre-{i}", channelCode="WEB")
        assert made["errors"] == []
    async with (
        clients(base_url, tokens[Role.OPERATOR], 5) as receivers,
        clients(base_url, tokens[Role.STOREFRONT], 10) as shoppers,
    ):
        carts = [
            shopper(
                operation("CreateReservation"),
                {
                    "input": {
                        "sku": "NEW-5",
                        "quantity": 1,
                        "channelCode": "WEB",
                        "referenceId": f"cart-{i}",
                    }
                },
            )
            for i, shopper in enumerate(shoppers)
        ]
        receipts = [factories.adjust(receiver, "NEW-5", "DC-1", 4) for receiver in receivers]
        answers = await asyncio.gather(*carts, *receipts)
    carted = sum(1 for answer in answers[: len(carts)] if not answer["createReservation"]["errors"])
    converted = [p for p in await listed(admin, sku="NEW-5") if p["status"] == "CONVERTED"]
    dc1 = await level(engine, "NEW-5", "DC-1")
    assert dc1["on_hand"] == 20
    assert dc1["committed"] == 2 * len(converted)
    assert dc1["reserved"] == carted
    assert dc1["available"] >= 0
    assert 2 * len(converted) + carted <= 20
    await check_invariants(engine)


async def shop(sku: str, i: int, shopper: Client, rounds: int, preorder_every: int) -> int:
    """Shopper `i` puts one unit in a cart each round (how many it held is returned); every
    `preorder_every`th shopper also preorders one each round, while stock comes and goes."""
    held = 0
    for round_ in range(rounds):
        answer = await shopper(
            operation("CreateReservation"),
            {
                "input": {
                    "sku": sku,
                    "quantity": 1,
                    "channelCode": "WEB",
                    "referenceId": f"cart-{i}-{round_}",
                    # with a key, a cart goes the locked way; without, one statement
                    **({"idempotencyKey": f"cart-{i}-{round_}"} if i % 2 else {}),
                }
            },
        )
        held += not answer["createReservation"]["errors"]
        if i % preorder_every == 0:
            late = await preorder(
                shopper, sku, 1, referenceId=f"late-{i}-{round_}", channelCode="WEB"
            )
            assert late["errors"] == []
    return held


async def test_receipts_converting_preorders_take_locks_in_the_reservations_order(
    admin: Client,
    base_url: str,
    tokens: dict[Role, str],
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Receipts that convert preorders lock the channel's row before the levels, as carts
    do: racing receipts, carts and new preorders on one product meet no deadlock (none is
    retried), oversell nothing, and convert every preorder exactly once."""
    caplog.set_level(logging.WARNING)
    await factories.stocked(admin, "NEW-6", {"DC-1": 0})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    await set_cap(admin, "NEW-6", 100)
    for i in range(12):
        made = await preorder(admin, "NEW-6", 1, referenceId=f"pre-{i}", channelCode="WEB")
        assert made["errors"] == []
    async with (
        clients(base_url, tokens[Role.OPERATOR], 6) as receivers,
        clients(base_url, tokens[Role.STOREFRONT], 12) as shoppers,
    ):

        async def receive(receiver: Client) -> None:
            for _ in range(4):
                await factories.adjust(receiver, "NEW-6", "DC-1", 2)

        results = await asyncio.gather(
            *(shop("NEW-6", i, s, rounds=4, preorder_every=3) for i, s in enumerate(shoppers)),
            *(receive(r) for r in receivers),
        )
    carted = sum(r for r in results[: len(shoppers)] if r is not None)
    # Stock enough for every preorder still waiting: all of them convert now.
    await factories.adjust(admin, "NEW-6", "DC-1", 100)
    preorders = await listed(admin, sku="NEW-6")
    assert len(preorders) == 12 + 4 * 4
    assert {p["status"] for p in preorders} == {"CONVERTED"}
    reservation_ids = [p["reservation"]["id"] for p in preorders]
    assert len(set(reservation_ids)) == len(reservation_ids)
    async with engine.connect() as conn:
        made = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM reservations r JOIN preorders p"
                    " ON p.reservation_id = r.id WHERE p.product_id = r.product_id"
                    " AND r.quantity = p.quantity AND r.type = 'ORDER'"
                )
            )
        ).scalar_one()
    assert made == len(preorders)
    dc1 = await level(engine, "NEW-6", "DC-1")
    assert dc1["on_hand"] == 6 * 4 * 2 + 100
    assert dc1["committed"] == len(preorders)
    assert dc1["reserved"] == carted
    assert dc1["available"] == dc1["on_hand"] - len(preorders) - carted >= 0
    retried = [r.getMessage() for r in caplog.records if "40P01" in r.getMessage()]
    assert retried == []
    await check_invariants(engine)


async def test_counts_converting_preorders_take_locks_in_the_reservations_order(
    admin: Client,
    base_url: str,
    tokens: dict[Role, str],
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cycle count locks its levels itself before its change: it too locks the channel
    rows of the waiting preorders first, so counts racing carts meet no deadlock, and every
    preorder converts once."""
    caplog.set_level(logging.WARNING)
    await factories.stocked(admin, "NEW-7", {"DC-1": 50})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    await set_cap(admin, "NEW-7", 100)
    for i in range(12):
        made = await preorder(admin, "NEW-7", 1, referenceId=f"pre-{i}", channelCode="WEB")
        assert made["errors"] == []
    count = """
    mutation($input: RecordCycleCountInput!) {
      recordCycleCount(input: $input) { errors { field code message } }
    }"""
    async with (
        clients(base_url, tokens[Role.OPERATOR], 6) as counters,
        clients(base_url, tokens[Role.STOREFRONT], 12) as shoppers,
    ):

        async def counting(k: int, counter: Client) -> None:
            for round_ in range(4):
                # 51 to 54: within the count threshold of any other, and more than the 18
                # preorders and 24 carts can hold
                found = 51 + (k + round_) % 4
                lines = [{"sku": "NEW-7", "countedQuantity": found}]
                done = await counter(count, {"input": {"warehouseCode": "DC-1", "counts": lines}})
                assert done["recordCycleCount"]["errors"] == []

        results = await asyncio.gather(
            *(shop("NEW-7", i, s, rounds=2, preorder_every=4) for i, s in enumerate(shoppers)),
            *(counting(k, c) for k, c in enumerate(counters)),
        )
    carted = sum(r for r in results[: len(shoppers)] if r is not None)
    await factories.adjust(admin, "NEW-7", "DC-1", 10)  # the last preorders placed convert
    preorders = await listed(admin, sku="NEW-7")
    assert len(preorders) == 18
    assert {p["status"] for p in preorders} == {"CONVERTED"}
    assert len({p["reservation"]["id"] for p in preorders}) == 18
    dc1 = await level(engine, "NEW-7", "DC-1")
    assert dc1["committed"] == 18
    assert dc1["reserved"] == carted
    assert dc1["available"] == dc1["on_hand"] - 18 - carted >= 0
    retried = [r.getMessage() for r in caplog.records if "40P01" in r.getMessage()]
    assert retried == []
    await check_invariants(engine)


async def test_a_receipt_sharing_a_transaction_waits_for_no_channel_row_after_its_level(
    admin: Client, storefront: Client, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Receipts of one level written together (group commit: one transaction, a savepoint
    each): the first locks the level. A preorder placed after it, whose channel's row a cart
    then holds while it waits for that level, is not the second receipt's to wait for: that
    would deadlock with the cart. The second receipt takes only the channel rows free at once;
    the preorder waits for the next receipt, and nobody is retried."""
    caplog.set_level(logging.WARNING)
    # One unit in stock: the cart must lock the level to take it.
    await factories.stocked(admin, "NEW-8", {"DC-1": 1})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    await set_cap(admin, "NEW-8", 10)
    group = GroupCommit(engine)
    context = ChangeContext(actor="receiving", source=MovementSource.API)
    receipt = Adjust(Ref(key="NEW-8"), Ref(key="DC-1"), 2, "RECEIPT")
    first_running, go_on = asyncio.Event(), asyncio.Event()
    carts: list[asyncio.Task[Any]] = []

    async def holding_the_queue(conn: AsyncConnection) -> None:
        first_running.set()
        await go_on.wait()

    async def first_receipt(conn: AsyncConnection) -> Adjusted:
        received = await adjust(conn, receipt, context)
        carts.append(await late_preorder_and_a_waiting_cart(admin, storefront, engine, "NEW-8"))
        return received

    async def second_receipt(conn: AsyncConnection) -> Adjusted:
        return await adjust(conn, receipt, context)

    key = ("receipts", "NEW-8", "DC-1")
    queued = asyncio.create_task(group.submit(key, holding_the_queue))
    await first_running.wait()
    # Both arrive while the queue's first unit is being written: they share the next batch.
    together = asyncio.gather(group.submit(key, first_receipt), group.submit(key, second_receipt))
    await until(lambda: len(group.batcher.queues[key].waiting) == 2, "both receipts queued")
    go_on.set()
    first, second = await together
    await queued
    carted = await carts[0]
    assert carted["createReservation"]["errors"] == []
    assert [r.getMessage() for r in caplog.records if "40P01" in r.getMessage()] == []
    assert (first.level.version, second.level.version) == (3, 4)
    async with engine.connect() as conn:
        # recorded_at is the transaction's start: both receipts were written by one.
        receipts = await conn.execute(
            text(
                "SELECT count(DISTINCT recorded_at) FROM inventory_movements"
                " WHERE actor = 'receiving'"
            )
        )
        assert receipts.scalar_one() == 1
    assert second.level.on_hand == 5
    assert [p["status"] for p in await listed(admin, sku="NEW-8")] == ["ACTIVE"]
    await factories.adjust(admin, "NEW-8", "DC-1", 1)
    assert [p["status"] for p in await listed(admin, sku="NEW-8")] == ["CONVERTED"]
    dc1 = await level(engine, "NEW-8", "DC-1")
    assert (dc1["on_hand"], dc1["reserved"], dc1["committed"]) == (6, 1, 1)
    await check_invariants(engine)


async def test_a_count_after_a_change_of_its_transaction_waits_for_no_channel_row(
    admin: Client, storefront: Client, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A count in a transaction whose earlier change holds the level (a batch of source
    events, say) locks, of the waiting preorders' channel rows, only those free at once: the
    one a cart holds while waiting for that level is left to the next receipt."""
    caplog.set_level(logging.WARNING)
    await factories.stocked(admin, "NEW-9", {"DC-1": 1})
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    await set_cap(admin, "NEW-9", 10)
    context = ChangeContext(actor="receiving", source=MovementSource.API)
    async with engine.begin() as conn:
        received = await adjust(
            conn, Adjust(Ref(key="NEW-9"), Ref(key="DC-1"), 2, "RECEIPT"), context
        )
        cart = await late_preorder_and_a_waiting_cart(admin, storefront, engine, "NEW-9")
        async with asyncio.timeout(5):
            locked = await lock_preorder_channels(conn, [received.level.product_id])
        assert locked == set()
    assert (await cart)["createReservation"]["errors"] == []
    assert [r.getMessage() for r in caplog.records if "40P01" in r.getMessage()] == []
    await check_invariants(engine)


async def late_preorder_and_a_waiting_cart(
    admin: Client, storefront: Client, engine: AsyncEngine, sku: str
) -> asyncio.Task[Any]:
    """While a transaction holds the sku's level: a preorder placed on WEB, then a cart on
    WEB, which locks WEB's row for the sku and waits for the level (its task is returned)."""
    late = await preorder(admin, sku, 1, referenceId="late", channelCode="WEB")
    assert late["errors"] == []
    cart = {"sku": sku, "quantity": 1, "channelCode": "WEB", "referenceId": "cart"}
    task = asyncio.create_task(storefront(operation("CreateReservation"), {"input": cart}))
    await until(lambda: waiting_for_a_lock(engine), "the cart waiting for the level", 10)
    return task
