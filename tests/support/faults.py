"""For tests that break something under load (the database, a server process): real clients
that keep writing and remember every answer, and the checks that nothing was half-applied or
lost once it is over."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support.client import Client, operation
from support.factories import ADJUST
from support.imports import ledger_explains_stock

RESERVE = operation("CreateReservation")
RECONCILE = """
mutation { reconcileInventory { run { discrepancyCount levelsChecked } errors { code message } } }
"""


def database_id(global_id: str) -> int:
    """The row id inside a global id ("Reservation:12", base64)."""
    return int(base64.b64decode(global_id).decode().rpartition(":")[2])


@dataclass
class Answer:
    """One request and what came of it."""

    kind: str  # "reserve" or "adjust"
    started: float
    seconds: float
    written: int | None = None  # the reservation's or movement's row id, on success
    codes: tuple[str, ...] = ()  # the error codes otherwise
    status: int | None = None  # the HTTP status (None: no answer at all)


@dataclass
class Writers:
    """`count` clients, each writing as fast as it is answered (a reservation, then an
    adjustment, ...) until `stop` is set, on the SKUs given (stocked at `warehouse`)."""

    url: str
    token: str
    skus: list[str]
    warehouse: str = "DC-1"
    count: int = 6
    kinds: tuple[str, ...] = ("reserve", "adjust")
    reservation_type: str = "ORDER"
    answers: list[Answer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _keys: itertools.count[int] = field(default_factory=itertools.count)

    async def run(self) -> None:
        await asyncio.gather(*(self._client(number) for number in range(self.count)))

    async def _client(self, number: int) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:
            client = Client(http, self.token)
            for turn in itertools.count():
                if self.stop.is_set():
                    return
                sku = self.skus[(number + turn) % len(self.skus)]
                kind = self.kinds[turn % len(self.kinds)]
                self.answers.append(await self._write(client, kind, sku))

    async def _write(self, client: Client, kind: str, sku: str) -> Answer:
        key = f"fault-{next(self._keys)}"
        place = {"sku": sku, "warehouseCode": self.warehouse}
        if kind == "reserve":
            query, field_name = RESERVE, "createReservation"
            variables = {"quantity": 1, "type": self.reservation_type, "referenceId": key}
        else:
            query, field_name = ADJUST, "adjustInventory"
            variables = {"adjustment": 1, "reason": "RECEIPT"}
        variables |= {**place, "idempotencyKey": key}
        started = time.monotonic()
        try:
            response = await client.post(query, {"input": variables})
        except httpx.TransportError:
            return Answer(kind, started, time.monotonic() - started)
        answer = Answer(kind, started, time.monotonic() - started, status=response.status_code)
        body = response.json()
        if body.get("errors"):
            answer.codes = tuple(e.get("extensions", {}).get("code") for e in body["errors"])
            return answer
        payload = body["data"][field_name]
        if payload["errors"]:
            answer.codes = tuple(e["code"] for e in payload["errors"])
        elif kind == "reserve":
            answer.written = database_id(payload["reservation"]["id"])
        else:
            answer.written = database_id(payload["movement"]["id"])
        return answer

    def succeeded(self, kind: str) -> set[int]:
        return {a.written for a in self.answers if a.kind == kind and a.written is not None}

    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.written is None]


async def succeeded_since(writers: Writers, moment: float, count: int, seconds: float) -> None:
    """Wait until `count` writes begun after `moment` have succeeded."""
    deadline = time.monotonic() + seconds
    while sum(1 for a in writers.answers if a.written and a.started > moment) < count:
        assert time.monotonic() < deadline, f"fewer than {count} writes succeeded in time"
        await asyncio.sleep(0.05)


async def missing(engine: AsyncEngine, table: str, ids: set[int], column: str = "id") -> set[int]:
    """Which of `ids` are in no row of `table` (as its `column`)."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                f"SELECT {column} AS id FROM {table} WHERE {column} = ANY(CAST(:ids AS bigint[]))"
            ),
            {"ids": sorted(ids)},
        )
        return ids - {row.id for row in found}


async def holds_match_reservations(engine: AsyncEngine) -> None:
    """Every level's reserved and committed equal the sums of its active reservations."""
    async with engine.connect() as conn:
        wrong = (
            await conn.execute(
                text(
                    """
                    SELECT l.id, l.reserved, l.committed, h.reserved AS held_reserved,
                        h.committed AS held_committed
                    FROM inventory_levels l
                    LEFT JOIN (
                        SELECT product_id, warehouse_id,
                            sum(quantity - fulfilled_quantity)
                                FILTER (WHERE type <> 'ORDER') AS reserved,
                            sum(quantity - fulfilled_quantity)
                                FILTER (WHERE type = 'ORDER') AS committed
                        FROM reservations WHERE status = 'ACTIVE'
                        GROUP BY product_id, warehouse_id
                    ) h USING (product_id, warehouse_id)
                    WHERE l.reserved <> coalesce(h.reserved, 0)
                       OR l.committed <> coalesce(h.committed, 0)
                    """
                )
            )
        ).all()
    assert wrong == [], f"holds that differ from the active reservations: {wrong}"


async def nothing_half_applied(engine: AsyncEngine, admin: Client) -> dict[str, Any]:
    """The ledger explains every level, holds match reservations, and reconcileInventory
    (the product's own check) finds no discrepancy. Returns its run."""
    await ledger_explains_stock(engine)
    await holds_match_reservations(engine)
    payload = (await admin(RECONCILE))["reconcileInventory"]
    assert payload["errors"] == [], payload
    assert payload["run"]["discrepancyCount"] == 0, payload
    return dict(payload["run"])
