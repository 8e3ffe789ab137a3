"""What happens during the day, in simulated seconds from midnight: the seeded stream both
runs (legacy and onhand) play. Nothing here depends on how a run fares, so the same seed and
scale always give the same stream (`fingerprint`).

- Orders come in with the case study's peaks (8-11 and 14-16 h) and split over the channels
  by `world.CHANNEL_MIX`. A live channel's buyer fills a cart, takes a few minutes to check
  out (a quarter of carts are abandoned and expire), and the order ships after the warehouse
  has picked and scanned it. A marketplace order is accepted by the marketplace against the
  last figure its connector pulled, then placed with onhand by the connector.
- Races: several times a day, two buyers in different places (WEBSITE and MOBILE_APP) reach
  for the last units of the same SKU at the same moment.
- The ERP and the warehouses push receipts, returns, damage, count corrections and transfers
  as source events, each scanned some minutes after it happened; some reach onhand hours
  late, some twice, some out of order.
- One marketplace connector is down for an hour; a webhook receiver fails for a while; the
  stock shown to buyers is audited at random moments.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from dataclasses import astuple, dataclass, field
from typing import Any

from onhand.simulation.clock import HOUR, MINUTE
from onhand.simulation.world import BATCH, CHANNEL_MIX, REALTIME, World

# Relative order intensity of each hour of the day (the case study's two peaks).
HOURLY = (
    [0.15] * 6
    + [0.6, 1.2]
    + [3.0, 3.2, 2.8]
    + [1.6, 1.3, 1.4]
    + [2.6, 2.4]
    + [1.2, 0.9, 0.7]
    + [0.5, 0.4, 0.3, 0.2, 0.15]
)
QUANTITIES = ([1, 2, 3, 4, 5, 8], [40, 25, 15, 10, 6, 4])
ABANDONED_CARTS = 0.25
AUDIT_SAMPLE = 60


@dataclass(frozen=True)
class Order:
    """A buyer's order (or, `abandoned`, a cart that never checks out)."""

    at: float
    id: str
    channel: str
    sku: str
    quantity: int
    checkout_after: float  # live channels: from cart to checkout
    ship_after: float  # from acceptance to the warehouse's shipping scan
    abandoned: bool = False
    race: str | None = None


@dataclass(frozen=True)
class SourceEvent:
    """One event of a system of record, as it happened."""

    source: str
    id: str
    sequence: int
    type: str  # RECEIPT, RETURN, DAMAGE, ADJUSTMENT, TRANSFER
    sku: str
    warehouse: str
    delta: int
    occurred_at: float
    destination: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A source event reaching onhand (or the legacy integration)."""

    at: float
    event: SourceEvent
    duplicate: bool = False
    late: bool = False
    out_of_order: bool = False


@dataclass(frozen=True)
class Outage:
    what: str  # a channel code (its connector) or "webhook-receiver"
    start: float
    end: float

    def covers(self, at: float) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Audit:
    at: float
    skus: tuple[str, ...]


@dataclass
class Stream:
    hours: float
    orders: list[Order] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    audits: list[Audit] = field(default_factory=list)
    connector_outage: Outage = Outage("AMAZON", 0, 0)
    receiver_outage: Outage = Outage("webhook-receiver", 0, 0)

    @property
    def end(self) -> float:
        return self.hours * HOUR

    def fingerprint(self) -> str:
        """A digest of everything that happens: equal digests, equal streams."""
        digest = hashlib.sha256()
        items: list[Any] = [*self.orders, *self.deliveries, *self.audits]
        for item in [*items, self.connector_outage, self.receiver_outage]:
            digest.update(repr(astuple(item)).encode())
        return digest.hexdigest()


def build_stream(world: World, hours: float) -> Stream:
    """The day's stream, cut after `hours`: a shorter run plays the start of the same day."""
    rng = random.Random(f"stream-{world.seed}-{world.scale.name}")
    stream = Stream(hours=hours)
    stream.orders = _orders(world, rng)
    stream.deliveries = _deliveries(world, rng, len(stream.orders))
    stream.audits = _audits(world, rng)
    stream.connector_outage = Outage(
        rng.choice(BATCH), start := rng.uniform(9, 14) * HOUR, start + HOUR
    )
    stream.receiver_outage = Outage(
        "webhook-receiver", s := rng.uniform(10, 16) * HOUR, s + 40 * MINUTE
    )
    end = stream.end
    stream.orders = [order for order in stream.orders if order.at < end]
    stream.deliveries = [delivery for delivery in stream.deliveries if delivery.at < end]
    stream.audits = [audit for audit in stream.audits if audit.at < end]
    return stream


def _moment(rng: random.Random) -> float:
    """A time of day drawn from the hourly profile."""
    hour = rng.choices(range(24), weights=HOURLY)[0]
    return hour * HOUR + rng.uniform(0, HOUR)


def _orders(world: World, rng: random.Random) -> list[Order]:
    channels, mix = zip(*CHANNEL_MIX.items(), strict=True)
    cumulative = list(itertools.accumulate(world.popularity))
    orders: list[Order] = []
    for number in range(world.scale.orders_per_day):
        channel = rng.choices(channels, weights=mix)[0]
        index = min(bisect.bisect(cumulative, rng.random() * cumulative[-1]), len(world.skus) - 1)
        orders.append(
            Order(
                at=_moment(rng),
                id=f"{channel.lower()}-{number:05d}",
                channel=channel,
                sku=world.skus[index],
                quantity=rng.choices(*QUANTITIES)[0],
                checkout_after=rng.uniform(1, 12) * MINUTE,
                ship_after=rng.uniform(20, 180) * MINUTE,
            )
        )
        if channel in REALTIME and rng.random() < ABANDONED_CARTS / (1 - ABANDONED_CARTS):
            orders.append(
                Order(
                    at=_moment(rng),
                    id=f"{channel.lower()}-{number:05d}-abandoned",
                    channel=channel,
                    sku=world.skus[index],
                    quantity=rng.choices(*QUANTITIES)[0],
                    checkout_after=0,
                    ship_after=0,
                    abandoned=True,
                )
            )
    for race, sku in enumerate(world.last_units[: len(world.last_units) // 2]):
        at = rng.choice([rng.uniform(8, 11), rng.uniform(14, 16)]) * HOUR
        for channel in ("WEBSITE", "MOBILE_APP"):
            orders.append(
                Order(
                    at=at,
                    id=f"race-{race}-{channel.lower()}",
                    channel=channel,
                    sku=sku,
                    quantity=2,
                    checkout_after=rng.uniform(1, 3) * MINUTE,
                    ship_after=rng.uniform(20, 60) * MINUTE,
                    race=f"race-{race}",
                )
            )
    return sorted(orders, key=lambda order: (order.at, order.id))


def _sku(world: World, rng: random.Random) -> str:
    return rng.choices(world.skus, weights=world.popularity)[0]


def _happenings(
    world: World, rng: random.Random, orders: int
) -> list[tuple[float, str, str, str, int, str | None]]:
    """(occurred at, type, sku, warehouse, delta, destination) of the day's source events."""
    warehouses = list(world.warehouses)
    happened: list[tuple[float, str, str, str, int, str | None]] = []
    scale = orders / 1_100
    # Replenishment: purchase orders received during the working day, a week of demand each.
    for _ in range(round(60 * scale)):
        sku = _sku(world, rng)
        units = max(5, round(world.daily_demand(world.skus.index(sku)) * rng.uniform(3, 8)))
        happened.append(
            (rng.uniform(6, 18) * HOUR, "RECEIPT", sku, rng.choice(warehouses[:3]), units, None)
        )
    for _ in range(round(orders * 0.03)):
        happened.append((_moment(rng), "RETURN", _sku(world, rng), rng.choice(warehouses), 1, None))
    for _ in range(round(25 * scale)):
        happened.append(
            (
                _moment(rng),
                "DAMAGE",
                _sku(world, rng),
                rng.choice(warehouses),
                -rng.randint(1, 2),
                None,
            )
        )
    for _ in range(round(30 * scale)):
        delta = rng.choice([-3, -2, -1, -1, -1, 1, 2])
        happened.append(
            (
                rng.uniform(5, 20) * HOUR,
                "ADJUSTMENT",
                _sku(world, rng),
                rng.choice(warehouses),
                delta,
                None,
            )
        )
    for _ in range(round(15 * scale)):
        happened.append(
            (
                rng.uniform(6, 18) * HOUR,
                "TRANSFER",
                _sku(world, rng),
                "DC-001",
                -rng.randint(1, 4),
                rng.choice(warehouses[1:]),
            )
        )
    return happened


def _deliveries(world: World, rng: random.Random, orders: int) -> list[Delivery]:
    """Each source event scanned and sent some minutes after it happened (a few hours late
    now and then); numbered by each source in the order it sends them; then some sent twice
    and some overtaken in transport by the next one."""
    timed: list[tuple[float, bool, float, str, str, str, int, str | None]] = []
    for occurred, kind, sku, warehouse, delta, destination in _happenings(world, rng, orders):
        late = rng.random() < 0.04
        delay = rng.uniform(1, 20) * MINUTE + (rng.uniform(1, 3) * HOUR if late else 0)
        timed.append((occurred + delay, late, occurred, kind, sku, warehouse, delta, destination))
    timed.sort()
    deliveries: list[Delivery] = []
    sequences: dict[str, int] = {}
    for sent, late, occurred, kind, sku, warehouse, delta, destination in timed:
        source = f"WMS-{warehouse}"
        sequences[source] = sequences.get(source, 0) + 1
        event = SourceEvent(
            source,
            f"{source}-{sequences[source]:05d}",
            sequences[source],
            kind,
            sku,
            warehouse,
            delta,
            occurred,
            destination,
        )
        deliveries.append(Delivery(sent, event, late=late))
    deliveries = _overtaken(deliveries, rng)
    for delivery in list(deliveries):
        if rng.random() < 0.03:
            again = delivery.at + rng.uniform(1, 30) * MINUTE
            deliveries.append(Delivery(again, delivery.event, duplicate=True))
    return sorted(deliveries, key=lambda d: (d.at, d.event.id, d.duplicate))


def _overtaken(deliveries: list[Delivery], rng: random.Random) -> list[Delivery]:
    """About 3% of events are overtaken by their source's next one: it arrives just before."""
    by_source: dict[str, list[int]] = {}
    for position, delivery in enumerate(deliveries):
        by_source.setdefault(delivery.event.source, []).append(position)
    result = list(deliveries)
    for positions in by_source.values():
        for first, second in itertools.pairwise(positions):
            if rng.random() < 0.03 and not result[first].out_of_order:
                overtaking = result[second]
                result[first] = Delivery(
                    overtaking.at + rng.uniform(5, 60),
                    result[first].event,
                    late=result[first].late,
                    out_of_order=True,
                )
    return result


def _audits(world: World, rng: random.Random) -> list[Audit]:
    """One audit an hour, at a random minute, of the SKUs buyers look at most."""
    audits = []
    for hour in range(24):
        picked: set[str] = set()
        while len(picked) < min(AUDIT_SAMPLE, len(world.skus)):
            picked.add(_sku(world, rng))
        audits.append(Audit(hour * HOUR + rng.uniform(5, 55) * MINUTE, tuple(sorted(picked))))
    return audits
