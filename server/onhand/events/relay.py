"""The outbox relay: gives committed events their sequence, in a safe order, and broadcasts
them to every process.

One relay is active in the whole deployment (it holds a PostgreSQL advisory lock; the others
wait to take over). A pass of a leader that lost its lock mid-pass may still overlap its
successor's first: each pass locks the events it numbers, so the two still give every event
one sequence. The active relay is woken by the NOTIFY the outbox trigger sends at commit,
and polls now and then in case a notification was missed.

Which events are safe to publish? An event row's id is taken when it is inserted, not when its
transaction commits. So the relay only publishes events whose transaction is older than every
still-running writer in this database (txid below the horizon, _READY), and never publishes
past a committed event that is not yet safe: two changes to one level are serialized by its
row lock, so the later one has the larger id, and holding back everything behind the first
unsafe event keeps them in order.
The relay then numbers the batch with consecutive sequences, continuing from the last one it
gave out (kept in outbox_cursor, in the same transaction): sequences have no gaps and never
go back, so any process that sees a jump knows it missed something and reads
it from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from operator import attrgetter
from typing import Any

import asyncpg
from broadcaster import Broadcast
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.db.engine import plain_url
from onhand.db.statistics import analyze_soon
from onhand.events.envelope import encode_rows

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "onhand_outbox"
RELAY_LOCK = 0x6F6E68616E6402
BATCH = 1000
# A full batch taking this long (about 10 ms is usual) says the planner's statistics are
# stale after a bulk write (db/statistics.py): the relay analyzes the outbox, at most once
# every REANALYZE_SECONDS, whoever the writer was.
SLOW_BATCH_SECONDS = 0.1
REANALYZE_SECONDS = 60.0
# Broadcast messages carry at most this many events (larger batches are split).
MESSAGE_EVENTS = 200

# The events safe to publish now, oldest first, numbered. The horizon is the oldest
# transaction still running in this database: a transaction connected to another database
# cannot write this outbox, so another application's long writing transaction on the same
# server (a batch job, a migration) does not hold the events back. A running transaction not
# known to be elsewhere (a subtransaction's id, a session whose details this role may not
# read) counts as this database's. The horizon and the first blocked event are computed
# once (MATERIALIZED): inlined, the planner may rescan the outbox for `blocked` once per
# event when its statistics lag behind a burst of events, and spin for minutes.
#
# One statement, committing on its own, finds the safe events (locking them, so that two
# relays at once cannot both number one), advances the cursor and numbers them: one round
# trip a pass, where a transaction of four statements took five. Each numbered row also says
# whether events are left behind a running writer (`held_back`), so that a pass needs no
# second query to know when to look again.
_PUBLISH = text(
    """
    WITH snapshot AS MATERIALIZED (SELECT pg_current_snapshot() AS taken),
    horizon AS MATERIALIZED (
        SELECT coalesce(
            (SELECT min(running) FROM pg_snapshot_xip(snapshot.taken) AS running
             WHERE running::xid NOT IN (
                -- pg_stat_activity's own source, without the view's joins (a third of the cost)
                SELECT a.backend_xid FROM pg_stat_get_activity(NULL) AS a
                WHERE a.backend_xid IS NOT NULL AND a.datid IS DISTINCT FROM
                    (SELECT oid FROM pg_database WHERE datname = current_database())
             )),
            pg_snapshot_xmax(snapshot.taken)
        ) AS xmin
        FROM snapshot
    ),
    blocked AS MATERIALIZED (
        SELECT min(o.id) AS id FROM outbox o, horizon
        WHERE o.sequence IS NULL AND o.txid >= horizon.xmin
    ),
    -- Read in full (a sort under a limit) before anything is locked or written: until then
    -- this statement has no transaction id of its own to hold other writers' events back.
    -- Then locked, in id order: should two relays ever overlap (a leader whose lock
    -- connection died mid-pass, and its successor), the second waits for the first's rows
    -- and finds them numbered (the lock reads their newest version), so it neither numbers
    -- an event twice nor leaves a gap; the numbers go to the rows it locked.
    ready AS MATERIALIZED (
        SELECT r.id, row_number() OVER (ORDER BY r.id) AS position
        FROM (
            SELECT o.id FROM outbox o, horizon, blocked
            WHERE o.sequence IS NULL AND o.txid < horizon.xmin
              AND (blocked.id IS NULL OR o.id < blocked.id)
            ORDER BY o.id
            LIMIT :batch
            FOR UPDATE OF o
        ) r
    ),
    counted AS MATERIALIZED (SELECT count(*) AS n FROM ready),
    advanced AS (
        UPDATE outbox_cursor SET last_sequence = last_sequence + counted.n
        FROM counted
        WHERE id = 1 AND counted.n > 0
        RETURNING last_sequence - counted.n AS last
    ),
    stamped AS (
        UPDATE outbox o SET sequence = advanced.last + ready.position, published_at = now()
        FROM ready, advanced
        WHERE o.id = ready.id
        RETURNING o.sequence, o.topic, CAST(o.payload AS text) AS payload_text, o.product_id,
            o.warehouse_id, o.channel_id, o.created_at
    )
    SELECT s.*, EXISTS (
        SELECT 1 FROM outbox o WHERE o.sequence IS NULL AND o.id NOT IN (SELECT id FROM ready)
    ) AS held_back
    FROM stamped s
    """
)

_UNPUBLISHED = text("SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)")
# First re-check of events held back behind a running writer (doubling up to the poll).
HELD_BACK_FIRST_RECHECK = 0.005


class Relay:
    def __init__(
        self,
        engine: AsyncEngine,
        broadcast: Broadcast,
        database_url: str,
        *,
        channel: str,
        poll_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.broadcast = broadcast
        self.database_url = database_url
        self.channel = channel
        self.poll_seconds = poll_seconds
        self.active = False
        self._wake = asyncio.Event()
        self._analyzed_at = -REANALYZE_SECONDS

    async def run(self, healthy: Callable[[], None] = lambda: None) -> None:
        """Wait to become the active relay, then publish until cancelled. A failure (the
        database gone) ends it with the error: run again (workers/supervisor.py does), it
        waits for the lock again and publishes what is waiting. `healthy` is called after each
        look at the outbox."""
        try:
            while True:
                async with self._leadership() as lock:
                    if lock is None:
                        healthy()
                        await asyncio.sleep(self.poll_seconds * 2)
                        continue
                    self.active = True
                    await self._publish_while_holding(lock, healthy)
                self.active = False
        finally:
            self.active = False

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[Any]:
        """The connection holding the relay lock (and listening for commits), or None when
        another process is the relay. Closing the connection gives the lock up."""
        conn: Any = await asyncpg.connect(plain_url(self.database_url))
        try:
            leader = await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK)
            if leader:
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            yield conn if leader else None
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _publish_while_holding(self, lock: Any, healthy: Callable[[], None]) -> None:
        recheck = HELD_BACK_FIRST_RECHECK
        while not lock.is_closed():
            published, held_back = await self._publish()
            healthy()
            if published >= BATCH:
                recheck = HELD_BACK_FIRST_RECHECK
                continue  # a full batch: more may be waiting
            # Otherwise every safe event is out; a commit meanwhile has set the wake already.
            # Committed events held back behind a still-running writer go out when it ends,
            # and that writer's end may wake nobody (it wrote no events): look again soon,
            # backing off while it runs on, instead of leaving them for the next poll.
            wait = self.poll_seconds
            if held_back:
                wait = min(recheck, self.poll_seconds)
                recheck *= 2
            else:
                recheck = HELD_BACK_FIRST_RECHECK
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Number one batch of safe events, commit, then broadcast it; how many there were."""
        return (await self._publish())[0]

    def _analyze_outbox(self, took: float) -> None:
        now = time.monotonic()
        if now - self._analyzed_at < REANALYZE_SECONDS:
            return
        self._analyzed_at = now
        log.info("a batch of %d events took %.0f ms: analyzing the outbox", BATCH, took * 1000)
        analyze_soon(self.engine, ("outbox",))

    async def _publish(self) -> tuple[int, bool]:
        """What `publish_pending` does, and whether events are left held back behind a
        running writer."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            started = time.monotonic()
            numbered = (await conn.execute(_PUBLISH, {"batch": BATCH})).all()
            took = time.monotonic() - started
            if len(numbered) >= BATCH and took >= SLOW_BATCH_SECONDS:
                self._analyze_outbox(took)
            # Nothing numbered says nothing of what waits: asked on its own (a quiet moment).
            held_back = (
                numbered[0].held_back
                if numbered
                else bool((await conn.execute(_UNPUBLISHED)).scalar())
            )
        rows = sorted(numbered, key=attrgetter("sequence"))
        # Every few milliseconds under load: a line per batch only when asked for.
        if rows and log.isEnabledFor(logging.DEBUG):
            last = rows[-1].sequence
            log.debug(
                "published %d events up to %d",
                len(rows),
                last,
                extra={"run": "relay", "published": len(rows), "sequence": last},
            )
        for start in range(0, len(rows), MESSAGE_EVENTS):
            chunk = rows[start : start + MESSAGE_EVENTS]
            await self.broadcast.publish(self.channel, encode_rows(chunk))
        return len(rows), held_back
