"""The legacy integration the case study replaced, modelled in the simulator.

Modelled rather than run against onhand, because what it lacks is the point: there is no
server between the ERP and the channels, only a nightly-style job. Every 4 hours a CSV
snapshot of the ERP's stock is pushed to every channel; between snapshots each channel
decrements its own figure on its own sales and knows nothing of the others'. There are no
reservations and no buffers: an order is accepted when the channel's figure covers it, and
is cancelled (oversold) when it reaches the ERP and the stock is not there.

The ERP's record is fed by the same source events the onhand run receives, through a file
drop with no deduplication and no retry: a delivery repeated is applied twice, one sent while
the receiver fails is lost (silently), and a snapshot due while a channel's import is down is
skipped until the next one. What is really sellable (`truth`) applies each event once.
"""

from __future__ import annotations

from collections import defaultdict

from onhand.simulation.clock import HOUR
from onhand.simulation.metrics import RunTally
from onhand.simulation.stream import Audit, Delivery, Order, Stream
from onhand.simulation.world import CHANNELS, REALTIME, World

SNAPSHOT_EVERY = 4 * HOUR

Stock = dict[str, dict[str, int]]


class LegacyRun:
    def __init__(self, world: World, stream: Stream) -> None:
        self.world = world
        self.stream = stream
        self.truth: Stock = {sku: dict(levels) for sku, levels in world.stock.items()}
        self.record: Stock = {sku: dict(levels) for sku, levels in world.stock.items()}
        self.visible: dict[str, dict[str, int]] = {}
        self.tally = RunTally("legacy")
        self.applied: set[str] = set()
        # Source changes waiting for each channel's next snapshot: (time, channel).
        self.unseen: dict[str, list[float]] = defaultdict(list)

    def run(self) -> RunTally:
        moments: list[tuple[float, int, object]] = []
        snapshots = [
            index * SNAPSHOT_EVERY for index in range(int(self.stream.end // SNAPSHOT_EVERY) + 1)
        ]
        moments += [(at, 0, "snapshot") for at in snapshots]
        moments += [(d.at, 1, d) for d in self.stream.deliveries]
        for order in self.stream.orders:
            if not order.abandoned:
                placed = order.at + (order.checkout_after if order.channel in REALTIME else 0)
                if placed < self.stream.end:
                    moments.append((placed, 2, order))
        moments += [(audit.at, 3, audit) for audit in self.stream.audits]
        moments.sort(key=lambda item: (item[0], item[1]))
        for at, _, what in moments:
            if what == "snapshot":
                self._snapshot(at)
            elif isinstance(what, Delivery):
                self._deliver(what)
            elif isinstance(what, Order):
                self._place(what)
            elif isinstance(what, Audit):
                self._audit(what)
        return self.tally

    def _snapshot(self, at: float) -> None:
        for channel in CHANNELS:
            if self.stream.connector_outage.what == channel and self.stream.connector_outage.covers(
                at
            ):
                continue  # the import failed silently: the channel keeps its old figures
            self.visible[channel] = {sku: _total(levels) for sku, levels in self.record.items()}
            waiting = self.unseen.pop(channel, [])
            self.tally.channels[channel].latencies_ms.extend((at - t) * 1000 for t in waiting)

    def _deliver(self, delivery: Delivery) -> None:
        event = delivery.event
        if self.stream.receiver_outage.covers(delivery.at):
            if event.id not in self.applied:
                self.tally.lost_events += 1
            return
        if event.id in self.applied:
            self.tally.duplicates_applied += 1
        else:
            self.applied.add(event.id)
            _apply(self.truth, event.sku, event.warehouse, event.delta, event.destination)
        _apply(self.record, event.sku, event.warehouse, event.delta, event.destination, clamp=True)
        for channel in CHANNELS:
            self.unseen[channel].append(delivery.at)

    def _place(self, order: Order) -> None:
        channel = self.visible[order.channel]
        if channel.get(order.sku, 0) < order.quantity:
            self.tally.channels[order.channel].refused += 1
            return
        channel[order.sku] -= order.quantity
        tally = self.tally.channels[order.channel]
        tally.orders += 1
        # The order reaches the ERP: the first to arrive gets the stock, the rest are cancelled.
        if _total(self.truth[order.sku]) < order.quantity:
            tally.oversold += 1
            return
        _take(self.truth[order.sku], order.quantity)
        _take(self.record[order.sku], order.quantity)

    def _audit(self, audit: Audit) -> None:
        for channel in CHANNELS:
            for sku in audit.skus:
                self.tally.channels[channel].audit(
                    self.visible[channel].get(sku, 0), _total(self.truth[sku])
                )


def _total(levels: dict[str, int]) -> int:
    return sum(max(0, quantity) for quantity in levels.values())


def _take(levels: dict[str, int], quantity: int) -> None:
    """Ship `quantity` from the warehouses holding it, the largest first."""
    for warehouse in sorted(levels, key=lambda code: -levels[code]):
        taken = min(quantity, max(0, levels[warehouse]))
        levels[warehouse] -= taken
        quantity -= taken
        if quantity == 0:
            return


def _apply(
    stock: Stock, sku: str, warehouse: str, delta: int, destination: str | None, clamp: bool = False
) -> None:
    levels = stock[sku]
    have = levels.get(warehouse, 0)
    if delta < 0 and have + delta < 0:
        if not clamp:
            return  # refused by a system of record that checks (onhand's FAILED)
        delta = -have
    levels[warehouse] = have + delta
    if destination is not None:
        levels[destination] = levels.get(destination, 0) - delta
