"""The figures a run is judged by, in the case study's terms, per channel and overall.

- orders: orders placed (accepted by the channel); a buyer shown too little stock places none.
- oversold_orders: placed but not fulfillable: the cancellations.
- cancellation_rate: oversold_orders / orders.
- accuracy: at the audit moments, the share of channel-visible quantities equal to what the
  channel could really sell at that moment.
- sync_latency_p50_ms / _p99_ms: from a source event's change to the channel seeing it.
- lost_events: source events that never reached the stock the channels sell from.
- duplicate_events_applied: source events delivered twice and applied twice.
Source events feed every channel's stock, so a channel's lost and duplicate figures are the
run's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from onhand.simulation.world import CHANNELS


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


@dataclass
class ChannelTally:
    orders: int = 0
    oversold: int = 0
    refused: int = 0
    audited: int = 0
    accurate: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def audit(self, visible: int, sellable: int) -> None:
        self.audited += 1
        self.accurate += visible == sellable


@dataclass
class RunTally:
    name: str
    channels: dict[str, ChannelTally] = field(
        default_factory=lambda: {code: ChannelTally() for code in CHANNELS}
    )
    lost_events: int = 0
    duplicates_applied: int = 0

    def figures(self) -> dict[str, Any]:
        """The run as `--json` writes it."""
        overall = ChannelTally()
        for tally in self.channels.values():
            overall.orders += tally.orders
            overall.oversold += tally.oversold
            overall.audited += tally.audited
            overall.accurate += tally.accurate
            overall.latencies_ms.extend(tally.latencies_ms)
        return {
            **self._keys(overall),
            "channels": {code: self._keys(tally) for code, tally in self.channels.items()},
        }

    def _keys(self, tally: ChannelTally) -> dict[str, Any]:
        return {
            "orders": tally.orders,
            "oversold_orders": tally.oversold,
            "cancellation_rate": round(tally.oversold / tally.orders, 5) if tally.orders else 0.0,
            "accuracy": round(tally.accurate / tally.audited, 5) if tally.audited else None,
            "sync_latency_p50_ms": _ms(percentile(tally.latencies_ms, 50)),
            "sync_latency_p99_ms": _ms(percentile(tally.latencies_ms, 99)),
            "lost_events": self.lost_events,
            "duplicate_events_applied": self.duplicates_applied,
        }


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 1)
