"""This process's view of the event stream: one reader of the broadcast channel that hands
events, in sequence order and without gaps, to the subscribers of this process.

Sequences are consecutive (see relay.py), so a jump means something was missed (a message
lost between processes, a relay that stopped half-way): the hub reads the missing events from
the outbox before going on. It also checks the outbox now and then, so a quiet broadcast
channel cannot leave it behind for long.

Each subscriber (a `Listener`) has a bounded queue. One that falls too far behind is told so
and dropped, rather than letting its queue grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.events.envelope import Published, decode_batch
from onhand.events.store import events_after, latest_sequence, lost_after

log = logging.getLogger(__name__)

Accepts = Callable[[Published], bool]
PAGE = 1000
# How long a follower of the stream (alert evaluator, webhook enqueuer) lets events gather
# after it is woken: under load the relay publishes every few milliseconds, and one step per
# burst reads the outbox once instead of once per publication.
GATHER_SECONDS = 0.05


async def woken(watcher: asyncio.Event, poll: float, gather: float = GATHER_SECONDS) -> None:
    """Wait until `watcher` is set (at most `poll` seconds), let what follows gather, and
    clear it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(watcher.wait(), poll)
        await asyncio.sleep(gather)
    watcher.clear()


class SubscriberTooSlowError(Exception):
    def __init__(self, last_sequence: int, capacity: int) -> None:
        self.last_sequence = last_sequence
        super().__init__(
            f"subscriber fell more than {capacity} events behind and was dropped; "
            f"resubscribe with after: {last_sequence}"
        )


class CursorExpiredError(Exception):
    def __init__(self, after: int, oldest: int) -> None:
        super().__init__(
            f"events after {after} are no longer kept (the oldest kept is {oldest});"
            " read the current state, then subscribe without `after`"
        )


class Listener:
    def __init__(self, accepts: Accepts, capacity: int) -> None:
        self.accepts = accepts
        self.capacity = capacity
        self.queue: asyncio.Queue[Published] = asyncio.Queue(capacity)
        self.overflowed = False

    def offer(self, event: Published) -> None:
        if self.overflowed or not self.accepts(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            # Wake the consumer so it notices at once.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(event)


class Hub:
    def __init__(
        self,
        engine: AsyncEngine,
        broadcast: Broadcast,
        *,
        channel: str,
        poll_seconds: float = 1.0,
        capacity: int = 10_000,
    ) -> None:
        self.engine = engine
        self.broadcast = broadcast
        self.channel = channel
        self.poll_seconds = poll_seconds
        self.capacity = capacity
        self.position = 0
        self._listeners: set[Listener] = set()
        self._watchers: list[asyncio.Event] = []
        self._started = asyncio.Event()

    # -- reading the stream ------------------------------------------------------------

    async def run(self, healthy: Callable[[], None] = lambda: None) -> None:
        """Hand out the stream until cancelled. A failure (the database or the broadcast gone)
        ends it with the error; run again (workers/supervisor.py does), it goes on from the
        last event it handed out, reading what it missed from the outbox, so subscribers old
        and new lose nothing. `healthy` is called whenever it is keeping up."""
        if not self._started.is_set():
            # A new process: its subscribers start from now.
            async with self.engine.connect() as conn:
                self.position = await latest_sequence(conn)
        async with self.broadcast.subscribe(self.channel) as subscriber:
            # Whatever was published while this was not listening is in the outbox.
            await self._check_outbox()
            self._started.set()
            healthy()
            while True:
                try:
                    message = await asyncio.wait_for(subscriber.get(), self.poll_seconds)
                except TimeoutError:
                    await self._check_outbox()
                    healthy()
                    continue
                try:
                    events, span = decode_batch(message.message)
                except Exception:  # a bad message must not stop the stream for everyone
                    log.exception("could not decode a broadcast message; skipped it")
                    continue
                if span is not None:
                    await self._catch_up(span[1])
                elif events:
                    await self._receive(events)
                healthy()

    async def started(self) -> None:
        await self._started.wait()

    async def _receive(self, events: list[Published]) -> None:
        if events[0].sequence > self.position + 1:
            await self._catch_up(events[0].sequence - 1)
        self._dispatch(events)

    async def _check_outbox(self) -> None:
        async with self.engine.connect() as conn:
            latest = await latest_sequence(conn)
        if latest > self.position:
            await self._catch_up(latest)

    async def _catch_up(self, until: int) -> None:
        if not self._listeners and self.position < until:
            # Nobody here listens (a server that only takes writes): the watchers need only
            # waking, and a listener that comes later starts from now or reads its own past.
            self.position = until
            for watcher in self._watchers:
                watcher.set()
            return
        while self.position < until:
            async with self.engine.connect() as conn:
                events = await events_after(conn, self.position, PAGE, until=until)
            if not events:
                return
            self._dispatch(events)

    def _dispatch(self, events: list[Published]) -> None:
        moved = False
        for event in events:
            if event.sequence <= self.position:
                continue  # already handed out (a replayed range and a live message overlap)
            self.position = event.sequence
            moved = True
            for listener in list(self._listeners):
                listener.offer(event)
        if moved:
            for watcher in self._watchers:
                watcher.set()

    def watch(self) -> asyncio.Event:
        """An event set whenever new events arrive: for workers that read the outbox
        themselves and only need waking."""
        watcher = asyncio.Event()
        self._watchers.append(watcher)
        return watcher

    # -- subscribing -------------------------------------------------------------------

    def listen(self, accepts: Accepts, capacity: int | None = None) -> Listener:
        listener = Listener(accepts, capacity or self.capacity)
        self._listeners.add(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def feed(
        self,
        accepts: Accepts,
        *,
        after: int | None = None,
        topics: tuple[str, ...] = (),
        capacity: int | None = None,
    ) -> AsyncGenerator[Published, None]:
        """The events a subscriber accepts, in order: first those after `after` read back from
        the outbox, then live ones, with no gap and no duplicate between the two."""
        batches = self.feed_batches(accepts, after=after, topics=topics, capacity=capacity)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()

    async def feed_batches(
        self,
        accepts: Accepts,
        *,
        after: int | None = None,
        topics: tuple[str, ...] = (),
        capacity: int | None = None,
    ) -> AsyncGenerator[list[Published], None]:
        """`feed`, in batches: each holds every event that was waiting when the subscriber
        came back for more (a page of a replay), so a subscriber that does work per event can
        do it once per batch instead, and fall behind a burst no further than one batch."""
        listener = self.listen(accepts, capacity)
        # From here on the listener buffers every live event past `start`.
        start = self.position
        last = start if after is None else after
        try:
            if after is not None and after < start:
                async for page in self._replay(after, start, accepts, topics):
                    last = page[-1].sequence
                    yield page
                last = max(last, start)
            while True:
                waiting = [await listener.queue.get()]
                while not listener.queue.empty():
                    waiting.append(listener.queue.get_nowait())
                if listener.overflowed:
                    raise SubscriberTooSlowError(last, listener.capacity)
                batch = [event for event in waiting if event.sequence > last]
                if batch:
                    last = batch[-1].sequence
                    yield batch
        finally:
            self.unlisten(listener)

    async def _replay(
        self, after: int, until: int, accepts: Accepts, topics: tuple[str, ...]
    ) -> AsyncIterator[list[Published]]:
        async with self.engine.connect() as conn:
            oldest = await lost_after(conn, after)
        if oldest is not None:
            raise CursorExpiredError(after, oldest)
        cursor = after
        while cursor < until:
            async with self.engine.connect() as conn:
                page = await events_after(conn, cursor, PAGE, until=until, topics=topics)
            if not page:
                return
            cursor = page[-1].sequence
            accepted = [event for event in page if accepts(event)]
            if accepted:
                yield accepted
