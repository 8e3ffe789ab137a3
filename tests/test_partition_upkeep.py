"""Partition upkeep: the months ahead are created (idempotently, by one process at a time,
never queueing writers behind a long transaction), and the outbox's months past retention are
dropped only once every event in them is published and behind every consumer; a replay from
before what was dropped is told so. The ledger's months are never dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.auth.authenticator import Authenticator
from onhand.config import Settings
from onhand.db.engine import create_engine
from onhand.db.partitions import (
    create_months,
    drop_expired_outbox,
    month_partitions,
    months_from,
    partition_name,
)
from onhand.events.store import lost_after
from onhand.services import Services
from onhand.workers.partition_upkeep import RETRY_SECONDS, keep_partitions, upkeep_step
from onhand.workers.runner import selected

WEEK = timedelta(days=7)
OLD = [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]


@pytest.fixture
async def own_engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_database)
    yield engine
    await engine.dispose()


async def names(conn: AsyncConnection, table: str) -> list[str]:
    return [p.name for p in await month_partitions(conn, table)]


async def event(conn: AsyncConnection, month: date, sequence: int | None) -> None:
    await conn.execute(
        text(
            "INSERT INTO outbox (topic, payload, created_at, sequence, published_at)"
            " VALUES ('INVENTORY_UPDATED', '{}', :at, CAST(:s AS bigint),"
            " CASE WHEN :s IS NULL THEN NULL ELSE CAST(:at AS timestamptz) END)"
        ),
        {"at": month + timedelta(days=3), "s": sequence},
    )


async def cursors(conn: AsyncConnection, relay: int, webhooks: int, alerts: int) -> None:
    for table, value in (
        ("outbox_cursor", relay),
        ("webhook_cursor", webhooks),
        ("alert_cursor", alerts),
    ):
        await conn.execute(text(f"UPDATE {table} SET last_sequence = {value}"))


async def test_the_months_ahead_are_created_once_whoever_runs_the_upkeep(
    own_engine: AsyncEngine,
) -> None:
    settings = Settings(partition_months_ahead=5)

    async def upkeep() -> bool:
        async with own_engine.begin() as conn:
            return await keep_partitions(conn, settings)

    # Several processes at once: one does the work, the others find it done or locked.
    assert any(await asyncio.gather(*(upkeep() for _ in range(3))))
    assert await upkeep()  # and again: nothing left to do, nothing fails
    async with own_engine.connect() as conn:
        now = (await conn.execute(text("SELECT now()"))).scalar_one()
        expected = [partition_name("outbox", m) for m in months_from(now, 6)]
        for table in ("outbox", "inventory_movements"):
            have = await names(conn, table)
            assert set(expected).issubset({n.replace(table, "outbox") for n in have})
        # A write of now lands in this month's partition, not the default one.
        await conn.execute(text("INSERT INTO outbox (topic, payload) VALUES ('T', '{}')"))
        part = (await conn.execute(text("SELECT tableoid::regclass::text FROM outbox"))).scalar()
        assert part == expected[0]
    assert "partition-upkeep" in [loop.name for loop in selected(["partition-upkeep"])]


async def test_old_outbox_months_go_only_when_every_consumer_is_past_them(
    own_engine: AsyncEngine,
) -> None:
    async with own_engine.begin() as conn:
        for table in ("outbox", "inventory_movements"):
            await create_months(conn, table, OLD)
        await event(conn, OLD[0], 1)
        await event(conn, OLD[0], 2)
        await event(conn, OLD[1], 3)
        await event(conn, OLD[1], None)  # committed, not yet published
        await event(conn, OLD[2], 4)
        # The webhook enqueuer has seen only up to 2.
        await cursors(conn, relay=4, webhooks=2, alerts=4)

    async with own_engine.begin() as conn:
        assert await drop_expired_outbox(conn, WEEK) == ["outbox_y2025m01"]
    async with own_engine.begin() as conn:
        # February waits for its unpublished event, and March behind it.
        assert await drop_expired_outbox(conn, WEEK) == []
        assert await lost_after(conn, 0) == 3  # 1 and 2 are gone: a replay from 0 is told
        assert await lost_after(conn, 1) == 3
        assert await lost_after(conn, 2) is None
        await conn.execute(text("UPDATE outbox SET sequence = 5 WHERE sequence IS NULL"))
        await cursors(conn, relay=5, webhooks=5, alerts=4)
    async with own_engine.begin() as conn:
        # The alert evaluator at 4 holds February (3 and 5) and so March.
        assert await drop_expired_outbox(conn, WEEK) == []
        await cursors(conn, relay=5, webhooks=5, alerts=5)
    async with own_engine.begin() as conn:
        assert await drop_expired_outbox(conn, WEEK) == ["outbox_y2025m02", "outbox_y2025m03"]
        assert await lost_after(conn, 4) == 6
        assert await lost_after(conn, 5) is None
        # Recent months stay whatever their state; the ledger's old months stay, always.
        assert await names(conn, "outbox")
        assert [n for n in await names(conn, "inventory_movements") if "y2025" in n] == [
            partition_name("inventory_movements", m) for m in OLD
        ]


async def test_a_month_whose_rows_sit_in_the_default_partition_takes_them_over(
    own_engine: AsyncEngine,
) -> None:
    month = date(2031, 5, 1)  # beyond every month made so far: rows go to the default
    async with own_engine.begin() as conn:
        await event(conn, month, 1)
        for statement in (
            "INSERT INTO warehouses (code, name) VALUES ('W', 'w')",
            "INSERT INTO products (sku, name) VALUES ('P', 'p')",
            "INSERT INTO inventory_levels (product_id, warehouse_id, on_hand)"
            " SELECT p.id, w.id, 1 FROM products p, warehouses w",
        ):
            await conn.execute(text(statement))
        await conn.execute(
            text(
                "INSERT INTO inventory_movements (change_id, level_id, product_id,"
                " warehouse_id, type, source, actor, recorded_at, d_on_hand, on_hand, reserved,"
                " committed, incoming, damaged, quarantined, safety_stock)"
                " SELECT 1, id, product_id, warehouse_id, 'RECEIPT', 'MANUAL', 'x', :at, 1, 1,"
                " 0, 0, 0, 0, 0, 0 FROM inventory_levels"
            ),
            {"at": month + timedelta(days=3)},
        )
    async with own_engine.begin() as conn:
        for table in ("outbox", "inventory_movements"):
            [(before,)] = (await conn.execute(text(f"SELECT {table}::text FROM {table}"))).all()
            assert await create_months(conn, table, [date(2031, 4, 1), month]) == [
                partition_name(table, date(2031, 4, 1)),
                partition_name(table, month),
            ]
            where = await conn.execute(
                text(f"SELECT tableoid::regclass::text, {table}::text FROM {table}")
            )
            assert where.all() == [(partition_name(table, month), before)]
    async with own_engine.connect() as conn:
        # The ledger's guard is on again on the default partition, and on the new month.
        enabled = await conn.execute(
            text(
                "SELECT tgrelid::regclass::text, tgenabled::text FROM pg_trigger"
                " WHERE tgname = 'inventory_movements_rows_append_only' ORDER BY 1"
            )
        )
        states = dict(enabled.all())
        assert states["inventory_movements_default"] == "O"
        assert states[partition_name("inventory_movements", month)] == "O"
        with pytest.raises(DBAPIError, match="append-only"):
            await conn.execute(text(f"DELETE FROM {partition_name('inventory_movements', month)}"))


async def test_upkeep_gives_way_to_a_long_transaction_instead_of_queueing_writers(
    fresh_database: str, own_engine: AsyncEngine
) -> None:
    settings = Settings(database_url=fresh_database, partition_months_ahead=8)
    services = Services(
        settings=settings,
        engine=own_engine,
        authenticator=Authenticator(own_engine, 0),
        database_url=fresh_database,
    )
    async with own_engine.connect() as long_reader:
        await long_reader.execute(text("BEGIN"))
        await long_reader.execute(text("LOCK TABLE outbox IN ACCESS SHARE MODE"))
        assert await upkeep_step(services) == RETRY_SECONDS
        await long_reader.rollback()
    assert await upkeep_step(services) is None
    async with own_engine.connect() as conn:
        now = (await conn.execute(text("SELECT now()"))).scalar_one()
        assert partition_name("outbox", months_from(now, 9)[-1]) in await names(conn, "outbox")
