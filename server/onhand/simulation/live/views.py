"""What each channel shows buyers, and how long a source change takes to show there.

A live channel's figures follow onhand's `channelAvailabilityChanged` stream; a marketplace's
are those its connector last pulled, less what the marketplace sold since. A source change is
seen by a live channel when the stream next carries its SKU (in real time: the server is not
accelerated), by a marketplace at its connector's next pull (in simulated time).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from onhand.simulation.metrics import RunTally

# A change not seen within this long changed nothing the channel shows (a buffer absorbed
# it): it is dropped rather than matched with a later, unrelated change.
LIVE_MATCH_SECONDS = 2.0


@dataclass
class ChannelView:
    code: str
    live: bool
    shown: dict[str, int] = field(default_factory=dict)
    # sku -> when source changes to it were sent (monotonic seconds live, simulated otherwise)
    unseen: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def changed(self, sku: str, at: float) -> None:
        self.unseen[sku].append(at)

    def forget(self, sku: str, at: float) -> None:
        """The change sent at `at` changed nothing after all."""
        waiting = self.unseen.get(sku)
        if waiting and at in waiting:
            waiting.remove(at)

    def seen_all(self, at: float, tally: RunTally) -> None:
        """A pull at `at` reflects every change sent before it."""
        latencies = tally.channels[self.code].latencies_ms
        for sku in list(self.unseen):
            waiting = self.unseen[sku]
            latencies.extend((at - sent) * 1000.0 for sent in waiting if sent <= at)
            left = [sent for sent in waiting if sent > at]
            if left:
                self.unseen[sku] = left
            else:
                del self.unseen[sku]

    def seen(self, sku: str, at: float, tally: RunTally) -> None:
        """The channel now shows `sku` as of `at`: its waiting changes are seen."""
        waiting = self.unseen.pop(sku, None)
        if not waiting:
            return
        latencies = tally.channels[self.code].latencies_ms
        latencies.extend(
            (at - sent) * 1000.0 for sent in waiting if 0 <= at - sent <= LIVE_MATCH_SECONDS
        )


def live_now() -> float:
    return time.monotonic()
