"""How much of a product each channel is allocated, by strategy (the seed's
ChannelAllocationService). Pure functions: the numbers in, the shares out.

- PROPORTIONAL: in proportion to each channel's sales over the lookback (30 days); with no
  sales anywhere, an equal split. Buffer 10%.
- PRIORITY: channels in priority order (highest first) each get what they sell in the days
  of supply (14) at their recent daily rate, while stock lasts; what is left goes to the
  highest-priority channel. Buffer 10%.
- VELOCITY: the fastest-selling channel first, each gets its days of supply at its daily
  rate while stock lasts; what nobody sells stays unallocated. Buffer 15%.
- EQUAL: an equal split. Buffer 10%.
- CUSTOM: the quantities given.

Splits give whole units: each channel its floor, and the units left by rounding go to the
largest remainders (ties: higher priority, then older channel), so nothing is lost. Buffers
are the percentage of the allocation, rounded down (as the seed does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction


class Strategy(StrEnum):
    PROPORTIONAL = "PROPORTIONAL"
    PRIORITY = "PRIORITY"
    VELOCITY = "VELOCITY"
    EQUAL = "EQUAL"
    CUSTOM = "CUSTOM"


BUFFER_PERCENT = {
    Strategy.PROPORTIONAL: 10.0,
    Strategy.PRIORITY: 10.0,
    Strategy.VELOCITY: 15.0,
    Strategy.EQUAL: 10.0,
    Strategy.CUSTOM: 0.0,
}
LOOKBACK_DAYS = 30
DAYS_OF_SUPPLY = 14


@dataclass(frozen=True, slots=True)
class Demand:
    """A channel and what it sold of the product over the lookback window."""

    channel_id: int
    priority: int
    sold: int


@dataclass(frozen=True, slots=True)
class Share:
    channel_id: int
    quantity: int
    buffer: int


def buffer_for(quantity: int, percent: float) -> int:
    return math.floor(Decimal(str(percent)) * quantity / 100)


def _rank(demand: Demand) -> tuple[int, int]:
    return (-demand.priority, demand.channel_id)


def split(total: int, weights: Sequence[tuple[Demand, Fraction]]) -> dict[int, int]:
    """Whole units in proportion to the weights (largest remainder method)."""
    weight_sum = sum((w for _, w in weights), Fraction(0))
    if total <= 0 or weight_sum <= 0:
        return {d.channel_id: 0 for d, _ in weights}
    exact = {d.channel_id: total * w / weight_sum for d, w in weights}
    shares = {cid: math.floor(value) for cid, value in exact.items()}
    left = total - sum(shares.values())
    order = sorted(weights, key=lambda dw: (-(exact[dw[0].channel_id] % 1), *_rank(dw[0])))
    for demand, _ in order[:left]:
        shares[demand.channel_id] += 1
    return shares


def days_of_supply(demand: Demand, lookback_days: int, days: int) -> int:
    """Units the channel sells in `days` at its rate over the lookback window (rounded up)."""
    return math.ceil(Fraction(demand.sold, lookback_days) * days)


def allocate(
    strategy: Strategy,
    total: int,
    demands: Sequence[Demand],
    *,
    buffer_percent: float | None = None,
    lookback_days: int = LOOKBACK_DAYS,
    supply_days: int = DAYS_OF_SUPPLY,
) -> list[Share]:
    """Shares of `total` for the channels in `demands` (CUSTOM is not computed here)."""
    percent = BUFFER_PERCENT[strategy] if buffer_percent is None else buffer_percent
    ranked = sorted(demands, key=_rank)
    total = max(0, total)
    if strategy == Strategy.PROPORTIONAL:
        if sum(d.sold for d in ranked) > 0:
            quantities = split(total, [(d, Fraction(d.sold)) for d in ranked])
        else:
            quantities = split(total, [(d, Fraction(1)) for d in ranked])
    elif strategy == Strategy.EQUAL:
        quantities = split(total, [(d, Fraction(1)) for d in ranked])
    elif strategy == Strategy.PRIORITY:
        quantities = _waterfall(total, ranked, lookback_days, supply_days)
        if ranked:
            quantities[ranked[0].channel_id] += total - sum(quantities.values())
    elif strategy == Strategy.VELOCITY:
        fastest = sorted(ranked, key=lambda d: (-d.sold, *_rank(d)))
        quantities = _waterfall(total, fastest, lookback_days, supply_days)
    else:
        raise ValueError(f"{strategy} allocations are given, not computed")
    return [
        Share(d.channel_id, quantities[d.channel_id], buffer_for(quantities[d.channel_id], percent))
        for d in sorted(demands, key=lambda d: d.channel_id)
    ]


def _waterfall(
    total: int, ordered: Sequence[Demand], lookback_days: int, supply_days: int
) -> dict[int, int]:
    remaining = total
    quantities: dict[int, int] = {}
    for demand in ordered:
        wanted = days_of_supply(demand, lookback_days, supply_days)
        quantities[demand.channel_id] = min(wanted, remaining)
        remaining -= quantities[demand.channel_id]
    return quantities
