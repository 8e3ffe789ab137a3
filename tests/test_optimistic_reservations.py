"""Reservations judged on an unlocked read and written by one statement (the coalescer's fast
way, inventory/reservations/optimistic.py): a write that finds what the judgement relied on
shrunk too much writes nothing (the batch then goes the locked way), one that finds room to
spare is written, and batches through the API go that way when stock is plentiful."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.core.refs import Ref
from onhand.inventory.channels.registry import ChannelRef
from onhand.inventory.ledger import ChangeContext, MovementSource
from onhand.inventory.reservations import optimistic, reserving
from onhand.inventory.reservations.lookups import Lookups
from onhand.inventory.reservations.state import State
from support import factories
from support.channels import channel, check_invariants, level
from support.client import Client, clients, operation, payload_of
from support.metrics import write_batches

CONTEXT = ChangeContext(actor="test", source=MovementSource.API)
TERMS = reserving.Terms()


def cart(sku: str, quantity: int, reference: str) -> reserving.ReserveRequest:
    return reserving.ReserveRequest(
        lines=(reserving.ReserveLine(Ref(key=sku), quantity),),
        reference_id=reference,
        channel=ChannelRef(key="WEBSITE"),
    )


def meanwhile(
    monkeypatch: pytest.MonkeyPatch,
    engine: AsyncEngine,
    change: Callable[[AsyncConnection], Awaitable[Any]],
) -> None:
    """`change` commits right after the fast way has read its rows, before it writes."""
    read = State.read

    async def read_then_change(
        conn: AsyncConnection, requests: Sequence[reserving.ReserveRequest], utilization: Any
    ) -> tuple[Lookups, State]:
        found = await read(conn, requests, utilization)
        async with engine.begin() as other:
            await change(other)
        return found

    monkeypatch.setattr(State, "read", read_then_change)


async def reserved_by(engine: AsyncEngine, reference: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT coalesce(sum(quantity), 0) FROM reservations WHERE reference_id = :r"),
            {"r": reference},
        )
        return int(found.scalar_one())


async def someone_reserves(conn: AsyncConnection, sku: str, quantity: int) -> None:
    await reserving.reserve(conn, cart(sku, quantity, "someone"), CONTEXT, TERMS)


async def sold_before(engine: AsyncEngine, sku: str) -> None:
    """The product's channel x product row on WEBSITE, as after its first hold there (a first
    hold goes the locked way, which makes the row before it locks levels)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO channel_inventory (channel_id, product_id)"
                " SELECT c.id, p.id FROM channels c, products p"
                " WHERE c.code = 'WEBSITE' AND p.sku = :sku"
            ),
            {"sku": sku},
        )


async def test_a_write_finding_the_stock_it_counted_on_gone_writes_nothing(
    admin: Client, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await factories.stocked(admin, "FAST-1", {"DC-1": 5})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    meanwhile(monkeypatch, engine, lambda conn: someone_reserves(conn, "FAST-1", 3))

    outcome = await optimistic.reserve_many_at_once(
        engine, [cart("FAST-1", 3, "mine")], CONTEXT, TERMS
    )

    assert outcome is None  # judged on 5 available, only 2 left: the locked way decides
    assert await reserved_by(engine, "mine") == 0
    assert (await level(engine, "FAST-1", "DC-1"))["reserved"] == 3
    await check_invariants(engine)


async def test_a_write_finding_room_to_spare_is_made_in_one_statement(
    admin: Client, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await factories.stocked(admin, "FAST-2", {"DC-1": 100})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    await sold_before(engine, "FAST-2")
    meanwhile(monkeypatch, engine, lambda conn: someone_reserves(conn, "FAST-2", 3))

    outcome = await optimistic.reserve_many_at_once(
        engine, [cart("FAST-2", 3, "mine"), cart("FAST-2", 4, "also-mine")], CONTEXT, TERMS
    )

    assert outcome is not None
    made = [o for o in outcome if isinstance(o, reserving.Reserved)]
    assert [[r.quantity for r in o.reservations] for o in made] == [[3], [4]]
    assert await reserved_by(engine, "mine") == 3
    assert await reserved_by(engine, "also-mine") == 4
    stocked = await level(engine, "FAST-2", "DC-1")
    assert (stocked["reserved"], stocked["available"]) == (10, 90)
    async with engine.connect() as conn:
        events = (
            await conn.execute(
                text(
                    "SELECT topic, count(*) FROM outbox WHERE payload->>'referenceId' IN"
                    " ('mine', 'also-mine') GROUP BY topic ORDER BY topic"
                )
            )
        ).all()
    assert [tuple(e) for e in events] == [("INVENTORY_UPDATED", 2), ("RESERVATION_CHANGED", 2)]
    await check_invariants(engine)


async def test_a_changed_allocation_sends_the_batch_the_locked_way(
    admin: Client, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await factories.stocked(admin, "FAST-3", {"DC-1": 100})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    async with engine.begin() as conn:
        await someone_reserves(conn, "FAST-3", 1)  # the channel x product row exists

    async def allocate(conn: AsyncConnection) -> None:
        await conn.execute(text("UPDATE channel_inventory SET allocated = 2"))

    meanwhile(monkeypatch, engine, allocate)

    outcome = await optimistic.reserve_many_at_once(
        engine, [cart("FAST-3", 2, "mine")], CONTEXT, TERMS
    )

    assert outcome is None  # judged without the allocation, which now leaves 1 to sell
    assert await reserved_by(engine, "mine") == 0


async def test_a_products_first_hold_on_a_channel_goes_the_locked_way(
    admin: Client, engine: AsyncEngine
) -> None:
    """Its channel x product row is made by the locked way, before the levels are locked: made
    by the one statement after them, it could deadlock with a writer making it first."""
    await factories.stocked(admin, "FAST-0", {"DC-1": 10})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    first = await optimistic.reserve_many_at_once(
        engine, [cart("FAST-0", 1, "first")], CONTEXT, TERMS
    )
    assert first is None
    assert await reserved_by(engine, "first") == 0
    async with engine.begin() as conn:
        await someone_reserves(conn, "FAST-0", 1)
    then = await optimistic.reserve_many_at_once(
        engine, [cart("FAST-0", 1, "then")], CONTEXT, TERMS
    )
    assert then is not None
    assert await reserved_by(engine, "then") == 1
    await check_invariants(engine)


async def test_refusals_judged_on_the_read_stand_and_write_nothing(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "FAST-4", {"DC-1": 2})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    await sold_before(engine, "FAST-4")

    outcome = await optimistic.reserve_many_at_once(
        engine, [cart("FAST-4", 3, "too-many"), cart("FAST-4", 2, "fits")], CONTEXT, TERMS
    )

    assert outcome is not None
    refused, made = outcome
    assert isinstance(refused, reserving.DomainError)
    assert [p.code for p in refused.problems] == ["INSUFFICIENT_STOCK"]
    assert isinstance(made, reserving.Reserved)
    assert await reserved_by(engine, "too-many") == 0
    assert await reserved_by(engine, "fits") == 2
    await check_invariants(engine)


async def test_natural_keys_are_looked_up_in_the_read_and_each_request_answered_alone(
    admin: Client, engine: AsyncEngine
) -> None:
    """The read that judging relies on also looks up SKUs, variant ids, warehouse and channel
    codes: each request is answered as the locked way would answer it."""
    dc1 = (await factories.warehouse(admin, "DC-1"))["id"]
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    for sku, variant in (("KEYS-1", "v-one"), ("KEYS-2", "v-two"), ("KEYS-3", "v-two")):
        made = await factories.product(admin, sku, externalVariantId=variant)
        await factories.level(admin, made["id"], dc1, 100)
        await sold_before(engine, sku)
    async with engine.connect() as conn:
        website = (
            await conn.execute(text("SELECT id FROM channels WHERE code = 'WEBSITE'"))
        ).scalar_one()

    def line(
        product: Ref | None, variant: str | None = None, warehouse: Ref | None = None
    ) -> reserving.ReserveLine:
        return reserving.ReserveLine(product, 1, variant_id=variant, warehouse=warehouse)

    def asking(line: reserving.ReserveLine, reference: str, where: ChannelRef) -> Any:
        return reserving.ReserveRequest(lines=(line,), reference_id=reference, channel=where)

    by_code = ChannelRef(key="WEBSITE")
    outcome = await optimistic.reserve_many_at_once(
        engine,
        [
            asking(line(Ref(key="KEYS-1"), warehouse=Ref(key="DC-1")), "by-sku", by_code),
            asking(line(None, "v-one"), "by-variant", by_code),
            asking(line(None, "v-two"), "ambiguous", by_code),
            asking(line(Ref(key="NO-SUCH")), "unknown-sku", by_code),
            asking(line(Ref(key="KEYS-1"), warehouse=Ref(key="NO-WH")), "unknown-wh", by_code),
            asking(line(Ref(key="KEYS-1")), "unknown-channel", ChannelRef(key="NOPE")),
            asking(line(Ref(key="KEYS-2")), "channel-by-id", ChannelRef(id=website)),
        ],
        CONTEXT,
        TERMS,
    )

    assert outcome is not None  # written at once
    answers = [
        [r.product_id for r in o.reservations]
        if isinstance(o, reserving.Reserved)
        else [(p.code, p.message) for p in o.problems]
        for o in outcome
    ]
    async with engine.connect() as conn:
        ids = dict((await conn.execute(text("SELECT sku, id FROM products"))).all())
    assert answers == [
        [ids["KEYS-1"]],
        [ids["KEYS-1"]],
        [("INVALID", "variant id 'v-two' names 2 products; give productId or sku")],
        [("NOT_FOUND", "product NO-SUCH does not exist")],
        [("NOT_FOUND", "warehouse NO-WH does not exist")],
        [("NOT_FOUND", "channel NOPE does not exist")],
        [ids["KEYS-2"]],
    ]
    assert await reserved_by(engine, "by-variant") == 1
    await check_invariants(engine)


async def test_concurrent_reservations_with_stock_to_spare_are_written_at_once(
    admin: Client, base_url: str, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    await factories.stocked(admin, "FAST-HOT", {"DC-1": 1000})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    document = operation("CreateReservation")
    # A product's first hold on a channel is written the locked way (it makes the channel's
    # row for the product): made first, so that the concurrent ones below all have it.
    first = await admin(
        document,
        {
            "input": {
                "sku": "FAST-HOT",
                "quantity": 2,
                "referenceId": "first",
                "channelCode": "WEBSITE",
            }
        },
    )
    assert first["createReservation"]["errors"] == []
    before = (await http.get("/metrics")).text
    async with clients(base_url, admin.token or "", 40) as made:
        answers = await asyncio.gather(
            *(
                payload_of(
                    client,
                    "createReservation",
                    document,
                    {
                        "input": {
                            "sku": "FAST-HOT",
                            "quantity": 2,
                            "referenceId": f"cart-{n}",
                            "channelCode": "WEBSITE",
                        }
                    },
                )
                for n, client in enumerate(made)
            )
        )
    after = (await http.get("/metrics")).text

    assert all(answer["errors"] == [] for answer in answers), answers
    assert write_batches(after, "reservations", "at_once") > write_batches(
        before, "reservations", "at_once"
    )
    stocked = await level(engine, "FAST-HOT", "DC-1")
    assert (stocked["reserved"], stocked["available"]) == (82, 918)
    await check_invariants(engine)
