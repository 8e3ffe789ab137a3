"""Simulated time and how it maps onto real time.

The simulated day starts at midnight (`SimClock.start`, a fixed date so that runs compare)
and runs `speed` times faster than the wall clock: at speed 900 a simulated day takes 96 real
seconds, a 30-minute cart hold 2 real seconds and a 15-minute marketplace pull 1 real second.

What is accelerated, and how:
- The world's schedule (orders, ERP deliveries, pulls, snapshots, audits, outages) is written
  in simulated seconds from midnight; the runner waits until `real_due(at)` to play each.
- Durations onhand enforces run on the server's own simulation clock: the server is started
  with ONHAND_SIMULATION_SPEED (the simulator's own server is; one given with --url must be),
  and its default cart expiry, sweeper, channel sync intervals and stall deadlines, alert
  windows and webhook retries run that many times faster. Clients speak business time: a
  channel syncs every 15 minutes, a cart holds for the server's 30. Timestamps stay real (a
  reservation's `expiresAt` is a real moment, 2 s away at speed 900). One floor: a cart holds
  at least 5 real seconds, so that a request queued on a busy machine does not find it lapsed.
- What the server itself takes (a request, a commit reaching a subscriber) is not accelerated:
  those latencies are reported as measured, in real milliseconds. Waits the schedule causes
  (until the next feed pull, the next CSV snapshot) are reported in simulated milliseconds.
- The clock waits for the server. At speed 900 a call answered in a second lands 15
  simulated minutes late: on a busy machine a marketplace order would reach onhand a whole
  pull interval after it was taken, and the day would measure the machine, not onhand. So
  while a call has waited longer than it may (`live.run.CALL_LAG`), the clock stops: nothing
  new is played until the server has caught up, and the run takes longer instead. The server's
  own schedules do not stop with it (carts may lapse sooner); the run says how long it waited.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Simulated timestamps (ERP events' occurredAt) are on this day; it is in the past so that
# onhand's check that business timestamps are not in the future always passes.
SIMULATED_DAY = datetime(2026, 5, 4, tzinfo=UTC)
MINUTE = 60.0
HOUR = 3600.0
DAY = 24 * HOUR


@dataclass
class SimClock:
    """Maps simulated seconds since midnight to the monotonic wall clock; it can be stopped."""

    speed: float
    real_start: float = field(default_factory=time.monotonic)
    # Real seconds the clock has stood still, waiting for the server.
    stopped_for: float = field(default=0.0, init=False)
    _stopped_at: float | None = field(default=None, init=False)
    # Set, and replaced, whenever the clock stops or starts again: sleepers look again.
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def now(self) -> float:
        """Simulated seconds since midnight, now."""
        current = time.monotonic() if self._stopped_at is None else self._stopped_at
        return (current - self.real_start) * self.speed

    def real_due(self, at: float) -> float:
        return self.real_start + at / self.speed

    def real_seconds(self, simulated: float) -> float:
        """How long `simulated` seconds last on the wall clock."""
        return simulated / self.speed

    @property
    def stopped(self) -> bool:
        return self._stopped_at is not None

    def stop(self) -> None:
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
            self._wake()

    def start(self) -> None:
        if self._stopped_at is not None:
            waited = time.monotonic() - self._stopped_at
            self.real_start += waited
            self.stopped_for += waited
            self._stopped_at = None
            self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def sleep_until(self, at: float) -> None:
        while at > self.now():
            changed = self._changed
            delay = None if self.stopped else self.real_due(at) - time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await changed.wait()

    async def sleep(self, simulated: float) -> None:
        await self.sleep_until(self.now() + max(0.0, simulated))

    def wall_time_after(self, simulated: float) -> datetime:
        """The real UTC time `simulated` seconds from now (an expiry onhand can enforce)."""
        return datetime.now(UTC) + timedelta(seconds=simulated / self.speed)


def business_time(at: float) -> datetime:
    """A simulated moment as the business timestamp a source system would send."""
    return SIMULATED_DAY + timedelta(seconds=at)
