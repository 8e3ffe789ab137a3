"""Live events: from commit to subscriber, with many subscribers on one server.

    python bench/subscriptions.py [--subscribers 1000] [--rate 50] [--seconds 10] [--burst 500]

Starts a fresh database and one `onhand serve` process, then N WebSocket subscribers
(graphql-transport-ws, all on the same inventoryUpdated document) in two client processes: a
sample that times each event (websockets library) and a bulk that only counts frames (a raw
socket protocol, so that the clients take as little of the CPU the server needs as they can;
real subscribers are remote). Then:

1. latency: commits `rate` stock changes a second for `seconds`; every subscriber receives
   every change; p50/p99 from the commit returning to a (sampled) subscriber receiving it;
2. throughput: commits `burst` changes at once and times until every subscriber has all of
   them: messages delivered per second by the server.

Baselines, measured in the same run on the same machine:
- commit -> a raw PostgreSQL LISTEN connection (the same change, with pg_notify in its
  transaction): the floor for getting word of a commit out of the database;
- a bare WebSocket broadcast (Starlette under the same uvicorn, no GraphQL, no database) of
  pre-encoded messages to the same N sockets: the floor for fanning bytes out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Database, free_port, onhand_process, percentile, wait_ready
from onhand.db.engine import create_engine
from onhand.inventory.ledger import (
    ChangeContext,
    Movement,
    MovementSource,
    MovementType,
    Quantities,
    apply_change,
)

console = Console()
QUERY = "subscription { inventoryUpdated { sequence newQuantity } }"
HERE = Path(__file__).resolve().parent


# -- the subscribers (separate processes) ----------------------------------------------------


class CountingSocket(asyncio.Protocol):
    """A WebSocket client that only counts the frames it receives: cheap enough that the bulk
    of the subscribers does not take the CPU the server needs (real subscribers are remote)."""

    def __init__(self, handshake: bytes, after_upgrade: list[bytes]) -> None:
        self.handshake = handshake
        self.after_upgrade = after_upgrade
        self.buffer = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.ponged = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.handshake)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.buffer = self.buffer[end + 4 :]
            self.upgraded.set_result(None)
            for frame in self.after_upgrade:
                self.transport.write(frame)  # type: ignore[union-attr]
        while len(self.buffer) >= 2:
            length = self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return
            payload = self.buffer[offset : offset + length]
            self.buffer = self.buffer[offset + length :]
            if b'"pong"' in payload and not self.ponged.done():
                self.ponged.set_result(None)
            else:
                self.frames += 1


def client_frame(text: str) -> bytes:
    """A masked text frame (clients must mask; a zero mask keeps it simple)."""
    data = text.encode()
    header = bytes([0x81])
    if len(data) < 126:
        header += bytes([0x80 | len(data)])
    else:
        header += bytes([0x80 | 126]) + len(data).to_bytes(2, "big")
    return header + b"\0\0\0\0" + data


async def counting_subscriber(url: str, token: str, bare: bool) -> CountingSocket:
    host_port = url.split("//")[1].split("/")[0]
    host, port = host_port.split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    protocol_header = "" if bare else "Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
    handshake = (
        f"GET {path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\n{protocol_header}\r\n"
    ).encode()
    frames = (
        []
        if bare
        else [
            client_frame(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            ),
            client_frame(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}})),
            client_frame('{"type":"ping"}'),
        ]
    )
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: CountingSocket(handshake, frames), host, int(port)
    )
    await protocol.upgraded
    if not bare:
        await protocol.ponged
        protocol.frames = 0  # the connection_ack
    return protocol


async def subscribers_main(url: str, token: str, count: int, timed: bool, bare: bool) -> None:
    """`count` subscribers; timed ones (the websockets library) record when each value
    arrived, the others (CountingSocket) only count."""
    import websockets

    timed_counts: list[int] = []
    arrivals: list[tuple[int, float]] = []

    async def timed_one() -> None:
        socket = await websockets.connect(
            url,
            subprotocols=None if bare else ["graphql-transport-ws"],
            compression=None,
            max_queue=None,
        )
        if not bare:
            await socket.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            await socket.recv()
            await socket.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}})
            )
            await socket.send('{"type":"ping"}')
            await socket.recv()  # pong: the subscription is live
        index = len(timed_counts)
        timed_counts.append(0)
        ready.append(None)
        if len(ready) == count:
            all_ready.set()
        async for message in socket:
            now = time.time()
            timed_counts[index] += 1
            data = json.loads(message)
            value = (
                data["q"] if bare else data["payload"]["data"]["inventoryUpdated"]["newQuantity"]
            )
            arrivals.append((value, now))

    ready: list[None] = []
    all_ready = asyncio.Event()
    tasks = []
    counting: list[CountingSocket] = []
    for index in range(count):
        if timed:
            tasks.append(asyncio.create_task(timed_one()))
        else:
            counting.append(await counting_subscriber(url, token, bare))
        if index % 50 == 49:
            await asyncio.sleep(0.02)  # do not storm the accept queue
    if timed:
        await all_ready.wait()
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "COUNT":
            counts = timed_counts + [c.frames for c in counting]
            print(json.dumps({"received": sum(counts), "minimum": min(counts)}), flush=True)
        elif line == "ARRIVALS":
            print(json.dumps(arrivals), flush=True)
            arrivals.clear()
        elif line in ("STOP", ""):
            break
    for task in tasks:
        task.cancel()


class SubscriberProcess:
    def __init__(self, url: str, token: str, count: int, timed: bool, bare: bool) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--subscriber-process",
                url,
                token,
                str(count),
                "1" if timed else "0",
                "1" if bare else "0",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline().strip()  # type: ignore[union-attr]
        if line != "READY":
            raise RuntimeError(f"subscribers did not start: {line!r}")

    def ask(self, command: str) -> object:
        self.process.stdin.write(command + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.process.stdout.readline())  # type: ignore[union-attr]

    def stop(self) -> None:
        self.process.stdin.write("STOP\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        self.process.wait(timeout=30)


class Subscribers:
    """The timed sample and the counting bulk, in two processes."""

    def __init__(self, url: str, token: str, count: int, sample: int, bare: bool) -> None:
        self.timed = SubscriberProcess(url, token, sample, True, bare)
        self.bulk = SubscriberProcess(url, token, count - sample, False, bare)

    def received(self) -> int:
        return sum(p.ask("COUNT")["received"] for p in (self.timed, self.bulk))  # type: ignore[index]

    def arrivals(self) -> list[list[float]]:
        return self.timed.ask("ARRIVALS")  # type: ignore[return-value]

    def stop(self) -> None:
        self.timed.stop()
        self.bulk.stop()


async def wait_for_messages(subscribers: Subscribers, total: int, within: float) -> float:
    """Seconds until the subscribers have received `total` messages in all."""
    started = time.perf_counter()
    received = 0
    while time.perf_counter() - started < within:
        received = subscribers.received()
        if received >= total:
            return time.perf_counter() - started
        await asyncio.sleep(0.02)
    raise TimeoutError(f"only {received} of {total} messages arrived")


def show_worst(commits: dict[int, float], arrivals: list[list[float]]) -> None:
    """The slowest events: late for every subscriber at once means the server stalled."""
    by_value: dict[int, list[float]] = {}
    for value, at in arrivals:
        by_value.setdefault(int(value), []).append((at - commits[int(value)]) * 1000)
    for value, late in sorted(by_value.items(), key=lambda kv: -max(kv[1]))[:10]:
        console.print(
            f"change {value}: {min(late):.1f}-{max(late):.1f} ms for {len(late)} subscribers,"
            f" committed at +{commits[value] - commits[1]:.3f} s"
        )


def latencies(commits: dict[int, float], arrivals: list[list[float]]) -> list[float]:
    return [(at - commits[int(value)]) * 1000 for value, at in arrivals if int(value) in commits]


# -- onhand ---------------------------------------------------------------------------------


class Writer:
    """Commits one stock change at a time through the ledger; knows when each committed."""

    def __init__(self, url: str, product_id: int, warehouse_id: int) -> None:
        self.engine = create_engine(url)
        self.product_id = product_id
        self.warehouse_id = warehouse_id
        self.quantity = 0
        self.commits: dict[int, float] = {}
        self.context = ChangeContext(actor="bench", source=MovementSource.SYSTEM)

    async def change(self) -> None:
        async with self.engine.begin() as conn:
            await apply_change(
                conn,
                [
                    Movement(
                        self.product_id,
                        self.warehouse_id,
                        MovementType.RECEIPT,
                        Quantities(on_hand=1),
                    )
                ],
                self.context,
            )
        self.quantity += 1
        self.commits[self.quantity] = time.time()


async def run_onhand(args: argparse.Namespace, db: Database) -> dict[str, float]:
    product, warehouse = await db.level()
    writer = Writer(db.url, product, warehouse)
    port = free_port()
    with onhand_process(db.url, port):
        url = f"ws://127.0.0.1:{port}/graphql"
        subscribers = Subscribers(url, db.token, args.subscribers, args.sample, False)
        try:
            # Latency at a steady rate.
            for _ in range(int(args.rate * args.seconds)):
                started = time.perf_counter()
                await writer.change()
                await asyncio.sleep(max(0.0, 1 / args.rate - (time.perf_counter() - started)))
            total = writer.quantity * args.subscribers
            await wait_for_messages(subscribers, total, 60)
            arrivals = subscribers.arrivals()
            steady = latencies(writer.commits, arrivals)
            if args.show_worst:
                show_worst(writer.commits, arrivals)
            # Throughput of a burst.
            before = writer.quantity
            started = time.perf_counter()
            await asyncio.gather(*(writer.change() for _ in range(args.burst)))
            await wait_for_messages(subscribers, writer.quantity * args.subscribers, 120)
            elapsed = time.perf_counter() - started
            subscribers.arrivals()
            delivered = (writer.quantity - before) * args.subscribers
        finally:
            subscribers.stop()
    await writer.engine.dispose()
    return {
        "p50": percentile(steady, 50),
        "p99": percentile(steady, 99),
        "mean": statistics.fmean(steady),
        "throughput": delivered / elapsed,
    }


# -- baselines ------------------------------------------------------------------------------


async def run_listen_baseline(args: argparse.Namespace, db: Database) -> dict[str, float]:
    """The same kind of change in raw SQL with pg_notify in its transaction, to a LISTENer."""
    product, warehouse = await db.level()
    arrivals: dict[int, float] = {}
    listener = await asyncpg.connect(db.plain_url)
    await listener.add_listener(
        "bench", lambda _c, _p, _ch, payload: arrivals.setdefault(int(payload), time.time())
    )
    writer = await asyncpg.connect(db.plain_url)
    commits: dict[int, float] = {}
    for value in range(1, int(args.rate * args.seconds) + 1):
        started = time.perf_counter()
        async with writer.transaction():
            await writer.execute(
                "UPDATE inventory_levels SET on_hand = on_hand + 1, version = version + 1"
                " WHERE product_id = $1 AND warehouse_id = $2",
                product,
                warehouse,
            )
            await writer.execute("SELECT pg_notify('bench', $1)", str(value))
        commits[value] = time.time()
        await asyncio.sleep(max(0.0, 1 / args.rate - (time.perf_counter() - started)))
    await asyncio.sleep(0.5)
    await writer.close()
    await listener.close()
    values = [(arrivals[v] - commits[v]) * 1000 for v in commits if v in arrivals]
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
        "throughput": float("nan"),
    }


BARE_APP = """
import asyncio, json
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.responses import PlainTextResponse
sockets = set()
async def ws(websocket):
    await websocket.accept()
    sockets.add(websocket)
    try:
        while True:
            await websocket.receive_text()
    except Exception:
        sockets.discard(websocket)
async def fire(request):
    count = int(request.query_params["n"])
    start = int(request.query_params["start"])
    for q in range(start, start + count):
        text = json.dumps({"q": q})
        for socket in list(sockets):
            await socket.send_text(text)
    return PlainTextResponse("ok")
app = Starlette(routes=[WebSocketRoute("/ws", ws), Route("/fire", fire, methods=["POST"])])
"""


def start_bare_server(port: int) -> subprocess.Popen[bytes]:
    app_file = Path(os.environ.get("TMPDIR", "/tmp")) / "onhand_bench_bare_ws.py"
    app_file.write_text(BARE_APP)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(app_file.parent),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws-per-message-deflate",
            "false",
            "--ws",
            "websockets-sansio",
            "onhand_bench_bare_ws:app",
        ],
    )


async def run_bare_baseline(args: argparse.Namespace) -> dict[str, float]:
    import httpx

    port = free_port()
    server = start_bare_server(port)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/fire?n=0&start=0", method="POST")
        subscribers = Subscribers(
            f"ws://127.0.0.1:{port}/ws", "", args.subscribers, args.sample, True
        )
        try:
            async with httpx.AsyncClient(timeout=120) as http:
                started = time.perf_counter()
                await http.post(f"http://127.0.0.1:{port}/fire?n={args.burst}&start=1")
                await wait_for_messages(subscribers, args.burst * args.subscribers, 120)
                elapsed = time.perf_counter() - started
        finally:
            subscribers.stop()
    finally:
        server.terminate()
        server.wait()
    nan = float("nan")
    return {
        "p50": nan,
        "p99": nan,
        "mean": nan,
        "throughput": args.burst * args.subscribers / elapsed,
    }


def _median(values: list[float], digits: str = ",.1f") -> str:
    """The median and the spread (slowest-fastest) of the rounds' figures."""
    known = [v for v in values if v == v]  # not NaN
    if not known:
        return ""
    low, high = min(known), max(known)
    return f"{statistics.median(known):{digits}} ({low:{digits}}-{high:{digits}})"


async def main(args: argparse.Namespace) -> None:
    sides: dict[str, list[dict[str, float]]] = {
        "onhand (GraphQL over WebSocket)": [],
        "baseline: raw LISTEN/NOTIFY": [],
        "baseline: bare WebSocket broadcast": [],
    }
    ours, listen, bare = sides.values()
    async with Database.fresh() as db:
        console.print(
            f"{args.subscribers} subscribers, {args.rate} changes/s for {args.seconds} s,"
            f" then a burst of {args.burst} changes; {args.rounds} rounds, interleaved"
        )
        for _ in range(args.rounds):
            ours.append(await run_onhand(args, db))
            listen.append(await run_listen_baseline(args, db))
            bare.append(await run_bare_baseline(args))
            console.print(
                f"onhand p50 {ours[-1]['p50']:.1f} ms, p99 {ours[-1]['p99']:.1f} ms,"
                f" {ours[-1]['throughput']:,.0f} messages/s;"
                f" bare broadcast {bare[-1]['throughput']:,.0f} messages/s"
            )
    table = Table(title="commit -> subscriber: median (slowest-fastest)")
    for column in ("path", "p50 ms", "p99 ms", "messages/s"):
        table.add_column(column, justify="right")
    for name, runs in sides.items():
        table.add_row(
            name,
            _median([r["p50"] for r in runs]),
            _median([r["p99"] for r in runs]),
            _median([r["throughput"] for r in runs], ",.0f"),
        )
    console.print(table)
    ratios = [o["throughput"] / b["throughput"] for o, b in zip(ours, bare, strict=True)]
    console.print(
        f"onhand delivers {_median(ratios, '.0%')} of the bare broadcast's messages/s (each"
        f" round's ratio); its p99 is {_median([o['p99'] for o in ours])} ms."
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--subscriber-process":
        url, token, count, timed, bare = sys.argv[2:7]
        asyncio.run(subscribers_main(url, token, int(count), timed == "1", bare == "1"))
    else:
        parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        parser.add_argument("--subscribers", type=int, default=1000)
        parser.add_argument("--rate", type=float, default=50)
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--burst", type=int, default=500)
        parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each side")
        parser.add_argument("--sample", type=int, default=50, help="subscribers that time events")
        parser.add_argument("--show-worst", action="store_true", help="list the slowest events")
        asyncio.run(main(parser.parse_args()))
