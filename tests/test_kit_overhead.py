"""Kits cost other products nothing on the hot paths: a reservation (written at once, or the
locked way with an idempotency key) and an adjustment of a product in no kit run exactly the
statements they ran before kits existed (counted on a connection of their own), while a kit's
reservation steps aside from the one-statement way to the locked one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.refs import Ref
from onhand.inventory.channels.registry import ChannelRef
from onhand.inventory.ledger import ChangeContext, MovementSource
from onhand.inventory.reservations.optimistic import reserve_many_at_once
from onhand.inventory.reservations.reserving import ReserveLine, ReserveRequest, Terms, reserve
from onhand.inventory.stock import Adjust, adjust
from support import factories
from support.channels import channel
from support.client import Client, operation

# What each ran before kits existed (measured with this test on the commit before them),
# less what later work took away: the natural keys are looked up in one statement, and on
# the way at once in the same round trip as the read.
BEFORE = {"reserve at once": 2, "reserve with a key": 6, "adjust": 3}
CONTEXT = ChangeContext(actor="overhead", source=MovementSource.API)


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def request(sku: str, key: str | None = None) -> ReserveRequest:
    return ReserveRequest(
        (ReserveLine(Ref(key=sku, field="sku"), 1),),
        channel=ChannelRef(key="WEB", field="channelCode"),
        idempotency_key=key,
    )


async def test_products_in_no_kit_run_the_statements_they_ran_before(
    admin: Client, engine: AsyncEngine
) -> None:
    await factories.stocked(admin, "MUG", {"DC-1": 100})
    await factories.stocked(admin, "TEA", {"DC-1": 100})
    await factories.product(admin, "GIFT")
    await admin.mutate(
        "setKitComponents",
        operation("SetKitComponents"),
        {"input": {"sku": "GIFT", "components": [{"sku": "MUG", "quantity": 2}]}},
    )
    await channel(admin, "WEB", ["DC-1"], safetyBufferPercent=0)
    ran: dict[str, int] = {}
    # A product's first hold on a channel goes the locked way (it makes the channel's row):
    # the one counted here is a later one.
    async with engine.begin() as conn:
        await reserve(conn, request("TEA"), CONTEXT, Terms())
    with counting(engine) as seen:
        [made] = await reserve_many_at_once(engine, [request("TEA")], CONTEXT, Terms()) or [None]
    assert made is not None, "a reservation of a product in no kit is written at once"
    assert not isinstance(made, Exception)
    ran["reserve at once"] = len(seen)
    async with engine.begin() as conn:
        with counting(engine) as seen:
            await reserve(conn, request("TEA", key="k-1"), CONTEXT, Terms())
    ran["reserve with a key"] = len(seen)
    async with engine.begin() as conn:
        with counting(engine) as seen:
            await adjust(conn, Adjust(Ref(key="TEA"), Ref(key="DC-1"), 5, "RECEIPT"), CONTEXT)
    ran["adjust"] = len(seen)

    assert ran == BEFORE, ran
    kit_at_once = await reserve_many_at_once(engine, [request("GIFT")], CONTEXT, Terms())
    assert kit_at_once is None, "a kit is reserved the locked way"
