"""The distributor being simulated: its catalog, warehouses, channels and opening stock.

Everything here follows from the scale and the seed number, so the same `--seed` gives the
same world. Edit the figures to size onhand for another business: the catalog, the order
volume and how it splits over channels, how deep stock is kept.

- Catalog: a few fast movers and a long tail (demand follows a Zipf law over the SKUs).
- Stock: each SKU holds a number of days of its expected demand, spread over the four
  warehouses of the case study (seed 000); some SKUs run low, as in any real catalog, and a
  few are down to their last units (the ones buyers race for).
- Channels: WEBSITE, POS and MOBILE_APP sell live (availability read live, carts reserved);
  AMAZON, EBAY and WALMART are marketplaces synced in batches every 15 minutes. Every channel
  ships from every warehouse. Live channels keep onhand's default 5% safety buffer; the
  marketplaces keep demand-driven buffers sized to what sells in a sync interval, and never
  less than the last 3 units, since they sell on a figure up to 15 minutes old.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from onhand.seed.generator import WAREHOUSES

REALTIME = ("WEBSITE", "POS", "MOBILE_APP")
BATCH = ("AMAZON", "EBAY", "WALMART")
CHANNELS = REALTIME + BATCH
# Share of the day's orders per channel.
CHANNEL_MIX = {
    "WEBSITE": 0.34,
    "POS": 0.08,
    "MOBILE_APP": 0.16,
    "AMAZON": 0.22,
    "EBAY": 0.10,
    "WALMART": 0.10,
}
SAFETY_BUFFER_PERCENT = 5.0
# Marketplaces keep demand-driven buffers (setChannelDemandBuffer) of at least this many units.
MARKETPLACE_MINIMUM_BUFFER = 3
BATCH_SYNC_MINUTES = 15.0
# Where each warehouse's share of a SKU's stock goes (the demo's warehouses, seed 000's four).
WAREHOUSE_SHARE = {"DC-001": 0.45, "WH-EAST": 0.25, "WH-WEST": 0.2, "STORE-ATL": 0.1}


@dataclass(frozen=True)
class Scale:
    name: str
    skus: int
    orders_per_day: int
    # The default acceleration: a whole day in about 96 s (small) or 12 minutes (distributor).
    speed: float


SCALES = {
    "small": Scale("small", skus=2_000, orders_per_day=1_100, speed=900),
    "distributor": Scale("distributor", skus=48_000, orders_per_day=1_100, speed=120),
}


@dataclass(frozen=True)
class World:
    scale: Scale
    seed: int
    skus: tuple[str, ...]
    # Demand weight per SKU, in the order of `skus` (sums to 1).
    popularity: tuple[float, ...]
    # Opening stock: sku -> warehouse -> units on hand.
    stock: dict[str, dict[str, int]]
    # SKUs down to their last units, kept for the day's races.
    last_units: tuple[str, ...]

    @property
    def warehouses(self) -> tuple[str, ...]:
        return tuple(WAREHOUSE_SHARE)

    def daily_demand(self, sku_index: int) -> float:
        """Expected units a day of one SKU (orders average two units)."""
        return self.popularity[sku_index] * self.scale.orders_per_day * 2.0


WAREHOUSE_DETAILS = {w["code"]: w for w in WAREHOUSES}
RACES_PER_DAY = 6


def build_world(scale: Scale, seed: int) -> World:
    rng = random.Random(f"world-{seed}")
    skus = tuple(f"SIM-{index:06d}" for index in range(1, scale.skus + 1))
    ranks = list(range(1, scale.skus + 1))
    rng.shuffle(ranks)
    weights = [1.0 / rank for rank in ranks]
    total = sum(weights)
    popularity = tuple(weight / total for weight in weights)
    # The slowest SKUs that still sell now and then hold only their last units.
    by_demand = sorted(range(scale.skus), key=lambda index: popularity[index])
    tail = by_demand[: scale.skus // 4]
    last_units = tuple(skus[index] for index in rng.sample(tail, RACES_PER_DAY * 2))
    stock: dict[str, dict[str, int]] = {}
    for index, sku in enumerate(skus):
        if sku in last_units:
            stock[sku] = {"DC-001": 3}
            continue
        demand = popularity[index] * scale.orders_per_day * 2.0
        # Days of cover: most SKUs hold a week or two; one in eight runs low.
        days = rng.uniform(0.3, 1.5) if rng.random() < 0.125 else rng.uniform(4, 20)
        units = max(2, round(demand * days + rng.randint(0, 6)))
        stock[sku] = _spread(units, rng)
    return World(scale, seed, skus, popularity, stock, last_units)


def _spread(units: int, rng: random.Random) -> dict[str, int]:
    """`units` over the warehouses by their shares (the rest of the rounding to the first)."""
    levels = {
        code: int(units * share * rng.uniform(0.7, 1.3)) for code, share in WAREHOUSE_SHARE.items()
    }
    levels["DC-001"] += max(0, units - sum(levels.values()))
    return {code: quantity for code, quantity in levels.items() if quantity > 0}
