"""Webhook delivery: how fast onhand drains its deliveries to a local receiver, beside a bare
HTTP client POSTing the same bodies to the same receiver at the same concurrency, and how long a
50,000-level import takes to reach every webhook and a push channel.

    python bench/delivery.py [--runs 3] [--deliveries 20000] [--levels 50000]

1. Dispatch: N webhooks on one receiver (a raw asyncio HTTP server in its own process, so that
   it does not share a core's event loop with the sender), M pending deliveries made in the
   database, and onhand's dispatcher and recorder (the loops `onhand serve` runs) started in
   this process until every delivery is recorded SUCCEEDED. Events per second and POSTs per
   second, one event per POST and 100 per POST. The baseline is the dispatcher's HTTP client
   (aiohttp) POSTing the same bodies (the same arrays, when batched) with the same number in
   flight, and no database: the ratio is what onhand's bookkeeping (claim, lease, sign,
   record) costs.
2. Import to every receiver: `onhand serve` with webhooks for INVENTORY_UPDATED (one event per
   POST and 100 per POST) and a push-mode channel over the warehouses, then an import of
   50,000 new levels; the time from the upload until every webhook has every event and the
   channel's receiver has every product.

Sides interleave (A, B, A, B) and each figure is the median with its spread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database, free_port
from onhand.config import Settings
from onhand.db.engine import create_engine
from onhand.workers.webhooks import WebhookWorker, webhook_client

console = Console()
WEBHOOKS = 8  # on the receiver (--webhooks)
CONCURRENCY = 32  # deliveries in flight per process (webhook_concurrency)
PER_ENDPOINT = 4  # and per webhook (webhook_concurrency_per_endpoint)


# -- the receiver ------------------------------------------------------------------------------


class Tally:
    """What the receiver counts per path: POSTs, events, and the products pushed batches
    named (a channel's receiver)."""

    def __init__(self) -> None:
        self.posts: dict[str, int] = {}
        self.events: dict[str, int] = {}
        self.products: dict[str, set[str]] = {}

    def count(self, path: str, raw: bytes) -> None:
        self.posts[path] = self.posts.get(path, 0) + 1
        if not path.startswith("/count/"):
            return
        found = json.loads(raw)
        events = found if isinstance(found, list) else [found]
        self.events[path] = self.events.get(path, 0) + len(events)
        for event in events:
            if event.get("topic") == "CHANNEL_SYNC_BATCH":
                skus = self.products.setdefault(path, set())
                skus.update(item["sku"] for item in event["data"]["items"])

    def report(self) -> bytes:
        return json.dumps(
            {
                "posts": self.posts,
                "events": self.events,
                "products": {k: len(v) for k, v in self.products.items()},
            }
        ).encode()


async def _answer(tally: Tally, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 with keep-alive: read a request's head and body, answer 200 (GET /tally: what
    was counted)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            raw = await reader.readexactly(length) if length else b""
            method, path = head.split(b" ", 2)[:2]
            if method == b"GET":
                report = tally.report()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(report))
                writer.write(report)
                continue
            tally.count(path.decode(), raw)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _receive(port: int) -> None:
    async def serve() -> None:
        tally = Tally()
        server = await asyncio.start_server(
            functools.partial(_answer, tally), "127.0.0.1", port, backlog=1024
        )
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    process = multiprocessing.Process(target=_receive, args=(port,), daemon=True)
    process.start()
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/tally", timeout=1)
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(5)


# -- 1. dispatch ----------------------------------------------------------------------------------


def body(sequence: int) -> dict[str, object]:
    """An INVENTORY_UPDATED delivery's body, as the enqueuer makes it."""
    return {
        "topic": "INVENTORY_UPDATED",
        "sequence": sequence,
        "publishedAt": "2026-12-04T10:00:00+00:00",
        "data": {
            "levelId": f"SW52ZW50b3J5TGV2ZWw6{sequence}",
            "productId": "UHJvZHVjdDox",
            "warehouseId": "V2FyZWhvdXNlOjE=",
            "sku": f"SKU-{sequence:06}",
            "warehouseCode": "DC-1",
            "movementType": "IMPORT",
            "before": {"onHand": 0, "reserved": 0, "available": 0},
            "after": {"onHand": 12, "reserved": 0, "available": 12},
            "correlationId": "bench",
        },
    }


async def make_deliveries(
    db: Database, url: str, count: int, batch: int, webhooks: int = WEBHOOKS
) -> None:
    conn = await asyncpg.connect(db.plain_url)
    try:
        await conn.execute("TRUNCATE webhook_deliveries, webhooks CASCADE")
        batched = batch > 1
        for n in range(webhooks):
            await conn.execute(
                "INSERT INTO webhooks (url, topics, secret"
                + (", max_events_per_delivery)" if batched else ")")
                + " VALUES ($1, ARRAY['INVENTORY_UPDATED'], $2"
                + (", $3)" if batched else ")"),
                url,
                f"bench-secret-{n:08}",
                *([batch] if batched else []),
            )
        hooks = [r["id"] for r in await conn.fetch("SELECT id FROM webhooks ORDER BY id")]
        rows = [
            (hooks[s % webhooks], s, "INVENTORY_UPDATED", json.dumps(body(s)))
            for s in range(1, count + 1)
        ]
        await conn.copy_records_to_table(
            "webhook_deliveries", records=rows, columns=["webhook_id", "sequence", "topic", "body"]
        )
        await conn.execute("VACUUM ANALYZE webhook_deliveries")
    finally:
        await conn.close()


async def _drained(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE status <> 'SUCCEEDED')"
    )


async def onhand_dispatch(
    db: Database, url: str, count: int, batch: int, webhooks: int = WEBHOOKS
) -> float:
    """Seconds for onhand's loops to deliver and record `count` pending deliveries."""
    await make_deliveries(db, url, count, batch, webhooks)
    settings = Settings(
        database_url=db.url,
        webhook_concurrency=CONCURRENCY,
        webhook_concurrency_per_endpoint=PER_ENDPOINT,
    )
    engine = create_engine(db.url, settings)
    worker = WebhookWorker(engine, settings, None)
    healthy: Callable[[], None] = lambda: None  # noqa: E731
    # One connection to watch from: a new one per look took a share of this process's time.
    watching = await asyncpg.connect(db.plain_url)
    async with webhook_client(settings) as http:
        start = time.perf_counter()
        loops = [
            asyncio.create_task(worker.run_dispatcher(http, healthy)),
            asyncio.create_task(worker.run_recorder(healthy)),
        ]
        try:
            while not await _drained(watching):
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - start
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, *worker.in_flight, return_exceptions=True)
    await watching.close()
    await engine.dispose()
    return elapsed


async def bare_dispatch(url: str, count: int, batch: int, webhooks: int = WEBHOOKS) -> float:
    """Seconds for the dispatcher's HTTP client alone to POST the same bodies with as many
    in flight."""
    bodies = [body(s) for s in range(1, count + 1)]
    posts = [
        json.dumps(bodies[i : i + batch] if batch > 1 else bodies[i]).encode()
        for i in range(0, count, batch)
    ]
    in_flight = min(CONCURRENCY, webhooks * (PER_ENDPOINT if batch == 1 else 1))
    queue = iter(posts)
    async with aiohttp.ClientSession(raise_for_status=True) as http:

        async def sender() -> None:
            for content in queue:
                async with http.post(
                    url, data=content, headers={"Content-Type": "application/json"}
                ) as answer:
                    await answer.read()

        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        return time.perf_counter() - start


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


async def dispatch(args: argparse.Namespace) -> Table:
    table = Table(
        title=f"webhook dispatch: {args.deliveries:,} deliveries, {args.webhooks} webhooks"
    )
    for column in ("events per POST", "path", "events/s", "POSTs/s", "vs bare"):
        table.add_column(column, justify="right")
    async with Database.fresh() as db:
        with receiver() as base:
            url = f"{base}/hook"
            for batch in args.batches:
                runs: dict[str, list[float]] = {"bare aiohttp": [], "onhand": []}
                for _ in range(args.runs):
                    runs["bare aiohttp"].append(
                        await bare_dispatch(url, args.deliveries, batch, args.webhooks)
                    )
                    runs["onhand"].append(
                        await onhand_dispatch(db, url, args.deliveries, batch, args.webhooks)
                    )
                bare = statistics.median(args.deliveries / s for s in runs["bare aiohttp"])
                for path, seconds in runs.items():
                    events = [args.deliveries / s for s in seconds]
                    posts = [e / batch for e in events]
                    console.print(f"{batch}/POST {path}: {_median(events)} events/s")
                    table.add_row(
                        str(batch),
                        path,
                        _median(events),
                        _median(posts),
                        f"{statistics.median(events) / bare:.2f}x",
                    )
    return table


# -- 2. an import to every receiver --------------------------------------------------------------

WAREHOUSE_CODES = ("E2E-1", "E2E-2", "E2E-3", "E2E-4")
CREATE_WEBHOOK = """
mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { errors { message } } }"""
CREATE_CHANNEL = """
mutation($input: CreateChannelInput!) {
  createChannel(input: $input) { channel { id } errors { message } }
}"""
IMPORT = """
mutation($input: ImportInventoryInput!) {
  importInventory(input: $input) { job { status message } errors { message } }
}"""


def import_csv(levels: int) -> bytes:
    """`levels` new levels (products x the four warehouses), each with stock: every level
    is an INVENTORY_UPDATED event, and about a fifth are low."""
    lines = ["SKU,ProductName,WarehouseCode,Quantity,SafetyStock,ReorderPoint,ReorderQuantity"]
    for n in range(levels):
        product, warehouse = divmod(n, len(WAREHOUSE_CODES))
        quantity = 1 + (n * 7919) % 50
        lines.append(
            f"E2E-{product:06},Item {product},{WAREHOUSE_CODES[warehouse]},{quantity},0,0,0"
        )
    return ("\n".join(lines) + "\n").encode()


async def _graphql(http: httpx.AsyncClient, query: str, variables: dict) -> dict:
    answer = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    if answer.get("errors"):
        raise RuntimeError(answer["errors"])
    data: dict = answer["data"]
    return data


async def _delivered(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)"
            " AND (SELECT last_sequence FROM webhook_cursor)"
            "   >= (SELECT coalesce(max(sequence), 0) FROM outbox)"
            " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE status <> 'SUCCEEDED'"
            "   AND topic = 'INVENTORY_UPDATED')"
        )
    )


async def _tally(http: httpx.AsyncClient, base: str) -> dict:
    found: dict = (await http.get(f"{base}/tally")).json()
    return found


async def import_run(levels: int, content: bytes, single: bool = False) -> dict[str, float]:
    """One import into a fresh database under `onhand serve`: seconds to the import's answer,
    to every webhook having every event, and from the push channel's due time to its
    receiver having every product."""
    from common import onhand_process
    from onhand.inventory.warehouses import create_warehouse

    products = levels // len(WAREHOUSE_CODES)
    async with Database.fresh() as db:
        engine = create_engine(db.url)
        async with engine.begin() as conn:
            for code in WAREHOUSE_CODES:
                await create_warehouse(conn, {"code": code, "name": code})
        await engine.dispose()
        with receiver() as base, onhand_process(db.url, free_port()) as url:
            headers = {"Authorization": f"Bearer {db.token}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=900) as http:
                channel = await _graphql(
                    http,
                    CREATE_CHANNEL,
                    {
                        "input": {
                            "code": "PUSHED",
                            "name": "pushed",
                            "kind": "BATCH",
                            "warehouseCodes": list(WAREHOUSE_CODES),
                            "safetyBufferPercent": 0,
                        }
                    },
                )
                hooks = [
                    {"url": f"{base}/count/batched-{n}", "maxEventsPerDelivery": 100}
                    for n in range(2)
                ]
                if single:  # one event per POST, as every webhook had before batches
                    hooks.append({"url": f"{base}/count/single", "maxEventsPerDelivery": 1})
                hooks.append(
                    {
                        "url": f"{base}/count/channel",
                        "events": ["CHANNEL_SYNC_BATCH"],
                        "channelId": channel["createChannel"]["channel"]["id"],
                    }
                )
                for hook in hooks:
                    hook.setdefault("events", ["INVENTORY_UPDATED"])
                    await _graphql(http, CREATE_WEBHOOK, {"input": hook})
                operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
                operations["variables"]["input"]["createMissingProducts"] = True
                start = time.perf_counter()
                answer = await http.post(
                    "/graphql",
                    headers={"Apollo-Require-Preflight": "true"},
                    data={
                        "operations": json.dumps(operations),
                        "map": json.dumps({"0": ["variables.input.file"]}),
                    },
                    files={"0": ("levels.csv", content, "text/csv")},
                )
                answer.raise_for_status()
                imported = time.perf_counter() - start
                conn = await asyncpg.connect(db.plain_url)
                try:
                    # Once the import's events are published, the channel's interval comes
                    # round (it would within 15 minutes; changes published after a push wait
                    # for the next one).
                    while await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)"
                    ):
                        await asyncio.sleep(0.1)
                    await conn.execute("UPDATE channel_sync SET next_due_at = now()")
                    due = time.perf_counter()
                    webhooks = pushed = 0.0
                    while not (webhooks and pushed):
                        await asyncio.sleep(0.1)
                        now = time.perf_counter()
                        if not webhooks and await _delivered(conn):
                            webhooks = now - start
                        tally = await _tally(http, base)
                        if not pushed and tally["products"].get("/count/channel", 0) >= products:
                            pushed = now - due
                        if now - start > 1800:
                            raise RuntimeError(f"not delivered in 30 minutes: {tally}")
                    alerts = await conn.fetch(
                        "SELECT kind, count(*) AS n FROM alerts GROUP BY kind ORDER BY kind"
                    )
                    events = await conn.fetchval(
                        "SELECT count(*) FROM outbox WHERE topic = 'INVENTORY_UPDATED'"
                    )
                finally:
                    await conn.close()
                tally = await _tally(http, base)
    console.print(
        f"import {imported:.1f} s; every webhook {webhooks:.1f} s after the upload;"
        f" the push channel {pushed:.1f} s after its due time; {events:,} events;"
        f" received {tally['events']}, POSTs {tally['posts']};"
        f" alerts {[(a['kind'], a['n']) for a in alerts]}"
    )
    return {"import": imported, "webhooks": webhooks, "push": pushed}


async def imports(args: argparse.Namespace) -> Table:
    content = import_csv(args.levels)
    runs = [await import_run(args.levels, content, args.single) for _ in range(args.runs)]
    table = Table(title=f"an import of {args.levels:,} new levels reaching every receiver")
    for column in ("", "seconds, median (spread)"):
        table.add_column(column, justify="right")
    for key, label in (
        ("import", "importInventory answers"),
        ("webhooks", "every webhook has every event (from the upload)"),
        ("push", "the push channel has every product (from its due time)"),
    ):
        values = [r[key] for r in runs]
        table.add_row(
            label,
            f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})",
        )
    return table


async def main(args: argparse.Namespace) -> None:
    tables = [] if args.skip_dispatch else [await dispatch(args)]
    if not args.skip_import:
        tables.append(await imports(args))
    for table in tables:
        console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--levels", type=int, default=50_000)
    parser.add_argument("--webhooks", type=int, default=WEBHOOKS, help="dispatch: on the receiver")
    parser.add_argument(
        "--batches", type=lambda s: [int(n) for n in s.split(",")], default=[1, 100]
    )
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-dispatch", action="store_true")
    parser.add_argument(
        "--single", action="store_true", help="also a webhook taking one event per POST"
    )
    asyncio.run(main(parser.parse_args()))
