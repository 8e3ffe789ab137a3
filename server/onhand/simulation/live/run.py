"""The stream played against onhand, every client at once, on the simulated clock.

- Live channels (WEBSITE, POS, MOBILE_APP) show the figures onhand streams to them; a buyer
  who sees enough reserves a cart (`reserveCart`, expiring in 30 simulated minutes), checks
  out (`convertToOrderReservation`) or leaves it to expire, and the order ships
  (`fulfillReservation`) after the warehouse's pick and scan. A cart onhand refuses (the last
  unit went to someone else) is no order; an accepted order that cannot ship is oversold.
- Marketplace connectors (AMAZON, EBAY, WALMART) pull `channelFeed` every 15 simulated
  minutes and acknowledge it; the marketplace accepts orders against the last figure pulled
  and the connector places each with onhand as an ORDER reservation: a refusal is an order
  the marketplace sold and cannot ship (oversold). A connector that is down pulls nothing
  and places its orders when it is back.
- The ERP and the warehouses' systems push their deliveries with `recordInventoryEvents`,
  duplicates and overtaken events included: onhand must apply each exactly once.
- Audits compare what each channel shows with onhand's `channelInventory` at that moment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from onhand.simulation.clock import MINUTE, SimClock, business_time
from onhand.simulation.live import operations as ops
from onhand.simulation.live.client import Api, Calls, subscription
from onhand.simulation.live.deployment import Deployment
from onhand.simulation.live.receiver import Receiver, serving
from onhand.simulation.live.setup import set_up
from onhand.simulation.live.views import ChannelView, live_now
from onhand.simulation.metrics import RunTally, percentile
from onhand.simulation.stream import Audit, Delivery, Order, Stream
from onhand.simulation.world import BATCH, BATCH_SYNC_MINUTES, CHANNELS, REALTIME, World

BATCH_SYNC_PULL = BATCH_SYNC_MINUTES * MINUTE
# How late (simulated seconds) a call may land before the clock waits for it: a fifth of a
# marketplace's pull interval, so that buffers sized for the interval still cover it.
CALL_LAG = 3 * MINUTE
# How often (real seconds) the run looks at its calls to stop or start the clock.
PACING_SECONDS = 0.02


class LiveRun:
    def __init__(
        self,
        deployment: Deployment,
        world: World,
        stream: Stream,
        speed: float,
        say: Callable[[str], None] = print,
    ) -> None:
        self.say = say
        self.deployment = deployment
        self.world = world
        self.stream = stream
        self.speed = speed
        self.tally = RunTally("onhand")
        self.views = {code: ChannelView(code, live=code in REALTIME) for code in CHANNELS}
        self.cursors: dict[str, str | None] = dict.fromkeys(BATCH)
        # A connector pulls once at a time: a pull still running when the next is due skips it.
        self.pulling = {code: asyncio.Lock() for code in BATCH}
        self.applied: set[str] = set()
        self.sent_sequences: dict[str, set[int]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.failures: list[BaseException] = []
        # The day's calls: how long they took, and whether the clock must wait for them.
        self.calls = Calls()
        self.waited = 0.0  # real seconds the day's clock stood still for the server

    async def run(self) -> RunTally:
        limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            self.clock = SimClock(self.speed)  # restarted when the day starts
            started = time.monotonic()
            self.clients = await set_up(
                self.deployment, http, self.world, uuid.uuid4().hex[:6], self.calls
            )
            after = await self._published()
            for code in REALTIME:
                await self._load_view(code)
            for code in BATCH:
                await self._pull(code, 0.0)
            async with contextlib.AsyncExitStack() as following:
                for code in REALTIME:
                    await following.enter_async_context(self._follow(code, after))
                self.receiver = Receiver(lambda: self.clock.now(), self.stream.receiver_outage)
                url = await following.enter_async_context(serving(self.receiver))
                await self._subscribe_receiver(url)
                self.say(f"set up in {time.monotonic() - started:.1f} s; playing the day")
                self.clock = SimClock(self.speed)
                self.calls.timings.clear()
                pacing = asyncio.create_task(self._pace())
                try:
                    await self._play()
                    # What the day waited; the end's burst of shipments does not count.
                    self.waited = self.clock.stopped_for
                    await self._finish()
                finally:
                    pacing.cancel()
        self._say_how_the_server_kept_up()
        if self.failures:
            raise self.failures[0]
        return self.tally

    async def _pace(self) -> None:
        """Stops the clock while a call has waited longer than CALL_LAG allows, and starts it
        again when the server has caught up (clock.py says why)."""
        allowed = self.clock.real_seconds(CALL_LAG)
        while True:
            if self.calls.longest_wait() > allowed:
                self.clock.stop()
            else:
                self.clock.start()
            await asyncio.sleep(PACING_SECONDS)

    def _say_how_the_server_kept_up(self) -> None:
        timings = self.calls.timings
        if not timings:
            return
        p50, p99 = percentile(timings, 50), percentile(timings, 99)
        self.say(
            f"onhand answered {len(timings):,} calls: p50 {p50 * 1000:.0f} ms,"
            f" p99 {p99 * 1000:.0f} ms"
        )
        if self.waited > 0:
            self.say(
                f"the clock waited {self.waited:.1f} s for the server: on this"
                f" machine onhand answers slower than speed {self.speed:g} asks. The figures"
                " hold (no call landed more than"
                f" {CALL_LAG / MINUTE:.0f} simulated minutes late), but the server's own"
                " schedules ran on meanwhile (more carts lapse): lower --speed"
            )

    async def _published(self) -> int:
        """The last published sequence once the set-up's events (one per imported level) are
        all out: the live channels follow the stream from there."""
        last = -1
        while True:
            sequence = int((await self.clients.admin(ops.LATEST_SEQUENCE))["latestSequence"])
            if sequence == last:
                return sequence
            last = sequence
            await asyncio.sleep(1.0)

    # The schedule --------------------------------------------------------------------------

    async def _play(self) -> None:
        schedule: list[tuple[float, int, Callable[[], Awaitable[None]]]] = []
        for order in self.stream.orders:
            handler = self._live_order if order.channel in REALTIME else self._marketplace_order
            schedule.append((order.at, 1, _bind(handler, order)))
        for delivery in self.stream.deliveries:
            schedule.append((delivery.at, 0, _bind(self._deliver, delivery)))
        for offset, code in enumerate(BATCH):
            at = BATCH_SYNC_PULL * (1 + offset / len(BATCH))
            while at < self.stream.end:
                schedule.append((at, 2, _bind(self._pull_on_schedule, code, at)))
                at += BATCH_SYNC_PULL
        for audit in self.stream.audits:
            schedule.append((audit.at, 3, _bind(self._audit, audit)))
        schedule.sort(key=lambda item: (item[0], item[1]))
        for at, _, action in schedule:
            await self.clock.sleep_until(at)
            self._spawn(action())
        await self.clock.sleep_until(self.stream.end)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception as error:  # the run stops at its end and reports the first
                self.failures.append(error)

        task = asyncio.create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _finish(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))
        await self._count_lost_events()
        await self._settle_webhook()

    async def _until_end(self, simulated: float) -> None:
        """Waits `simulated` seconds, or until the run's end if that comes first."""
        await self.clock.sleep_until(min(self.clock.now() + simulated, self.stream.end))

    # Live channels -------------------------------------------------------------------------

    async def _load_view(self, code: str) -> None:
        api = self.clients.channels[code]
        after: str | None = None
        while True:
            feed = (await api(ops.FEED, channel=code, after=after))["channelFeed"]
            for item in feed["items"]:
                self.views[code].shown[item["sku"]] = item["availableToSell"]
            after = feed["cursor"]
            if not feed["hasMore"]:
                return

    def _follow(self, code: str, after: int) -> Any:
        view = self.views[code]

        def on_change(data: dict[str, Any]) -> int:
            change = data["channelAvailabilityChanged"]
            view.shown[change["sku"]] = change["availableToSell"]
            view.seen(change["sku"], live_now(), self.tally)
            return int(change["sequence"])

        return subscription(
            self.deployment.url,
            self.clients.channels[code].token,
            ops.AVAILABILITY,
            {"channel": code, "after": after},
            on_change,
        )

    async def _live_order(self, order: Order) -> None:
        api = self.clients.channels[order.channel]
        tally = self.tally.channels[order.channel]
        if self.views[order.channel].shown.get(order.sku, 0) < order.quantity:
            tally.refused += not order.abandoned
            return
        cart = (
            await api(
                ops.RESERVE_CART,
                input={
                    "referenceId": order.id,
                    "channelCode": order.channel,
                    # No expiry: the server's own default for carts, on its clock.
                    "lines": [{"sku": order.sku, "quantity": order.quantity}],
                },
            )
        )["reserveCart"]
        if not cart["success"]:
            tally.refused += not order.abandoned
            return
        if order.abandoned:
            return  # the cart expires by itself
        await self.clock.sleep(order.checkout_after)
        converted = await api(ops.CONVERT, input={"cartId": order.id, "orderId": order.id})
        if converted["convertToOrderReservation"]["errors"]:
            tally.refused += 1
            return
        tally.orders += 1
        await self._ship(api, order)

    async def _ship(self, api: Api, order: Order) -> None:
        await self._until_end(order.ship_after)
        shipped = (await api(ops.FULFIL, input={"referenceId": order.id}))["fulfillReservation"]
        if shipped["errors"]:
            self.tally.channels[order.channel].oversold += 1

    # Marketplaces --------------------------------------------------------------------------

    async def _marketplace_order(self, order: Order) -> None:
        view = self.views[order.channel]
        tally = self.tally.channels[order.channel]
        if view.shown.get(order.sku, 0) < order.quantity:
            tally.refused += 1
            return
        view.shown[order.sku] -= order.quantity
        tally.orders += 1
        outage = self.stream.connector_outage
        if outage.what == order.channel and outage.covers(order.at):
            await self.clock.sleep_until(min(outage.end, self.stream.end))
        api = self.clients.channels[order.channel]
        placed = (
            await api(
                ops.RESERVE,
                input={
                    "sku": order.sku,
                    "quantity": order.quantity,
                    "type": "ORDER",
                    "referenceId": order.id,
                    "channelCode": order.channel,
                },
            )
        )["createReservation"]
        if placed["errors"]:
            tally.oversold += 1
            return
        await self._ship(api, order)

    async def _pull_on_schedule(self, code: str, at: float) -> None:
        outage = self.stream.connector_outage
        if (outage.what == code and outage.covers(at)) or self.pulling[code].locked():
            return
        async with self.pulling[code]:
            await self._pull(code, at)

    async def _pull(self, code: str, at: float) -> None:
        """The connector reads what changed since its cursor, applies it, acknowledges it."""
        api = self.clients.channels[code]
        view = self.views[code]
        after = self.cursors[code]
        while True:
            feed = (await api(ops.FEED, channel=code, after=after))["channelFeed"]
            for item in feed["items"]:
                view.shown[item["sku"]] = item["availableToSell"]
            after = feed["cursor"]
            if not feed["hasMore"]:
                break
        acknowledged = await api(ops.ACKNOWLEDGE, input={"channelCode": code, "cursor": after})
        if acknowledged["acknowledgeChannelSync"]["errors"]:
            raise RuntimeError(f"{code}: {acknowledged}")
        self.cursors[code] = after
        # Every change made before the pull is now reflected, whether or not it moved the
        # figure shown (a transfer between warehouses does not).
        view.seen_all(at, self.tally)

    # Systems of record ---------------------------------------------------------------------

    async def _deliver(self, delivery: Delivery) -> None:
        event = delivery.event
        # Sent now: a live channel may hear of it before the answer comes back.
        sent_at = {code: live_now() if code in REALTIME else delivery.at for code in CHANNELS}
        for code, view in self.views.items():
            view.changed(event.sku, sent_at[code])
        self.sent_sequences.setdefault(event.source, set()).add(event.sequence)
        sent = {
            "sourceSystem": event.source,
            "eventId": event.id,
            "sequence": event.sequence,
            "type": event.type,
            "sku": event.sku,
            "warehouseCode": event.warehouse,
            "quantityDelta": event.delta,
            "occurredAt": business_time(event.occurred_at).isoformat(),
            "referenceDocument": event.id,
        }
        if event.destination:
            sent["destinationWarehouseCode"] = event.destination
        results = await self.clients.erp(ops.RECORD_EVENTS, input={"events": [sent]})
        status = results["recordInventoryEvents"]["results"][0]["status"]
        if status not in ("APPLIED", "HELD"):
            # A duplicate, or an event onhand refused: no change for any channel to see.
            for code, view in self.views.items():
                view.forget(event.sku, sent_at[code])
        if status == "APPLIED":
            # Whichever delivery of an event comes first applies it; another may not.
            if event.id in self.applied:
                self.tally.duplicates_applied += 1
            self.applied.add(event.id)

    async def _count_lost_events(self) -> None:
        """A source's events are all accounted for when onhand holds none back and has moved
        its sequence up to the last one sent (each one applied, or failed and kept)."""
        systems = (await self.clients.admin(ops.SOURCE_SYSTEMS))["sourceSystems"]["nodes"]
        seen = {system["code"]: system for system in systems}
        for source, sent in self.sent_sequences.items():
            # Events sent after a gap the source had not filled by the end wait, held: only
            # those up to the first gap must have been applied.
            contiguous = next(n for n in range(1, len(sent) + 2) if n not in sent) - 1
            system = seen.get(source)
            applied = system["lastAppliedSequence"] if system else 0
            self.tally.lost_events += max(0, contiguous - applied)

    # The webhook receiver ----------------------------------------------------------------

    async def _subscribe_receiver(self, url: str) -> None:
        made = await self.clients.admin(
            ops.CREATE_WEBHOOK, input={"url": url, "events": ["SOURCE_EVENT_RECORDED"]}
        )
        if made["createWebhook"]["errors"]:
            raise RuntimeError(f"createWebhook: {made}")

    async def _settle_webhook(self, within: float = 90.0) -> None:
        """As an operator would: once the receiver is back, retry the dead letters; then count
        the deliveries it never accepted (lost)."""
        deadline = time.monotonic() + within
        retried = 0
        while time.monotonic() < deadline:
            dead = await self._deliveries("DEAD")
            retried += len(dead)
            for delivery_id in dead:
                await self.clients.admin(ops.RETRY_DELIVERY, input={"id": delivery_id})
            if not dead and not await self._deliveries("PENDING"):
                break
            await asyncio.sleep(0.5)
        everything = {_raw_id(node_id) for node_id in await self._deliveries(None)}
        self.tally.lost_events += len(everything - self.receiver.received)
        self.say(
            f"webhook receiver: {len(everything)} deliveries, {self.receiver.refused} attempts"
            f" refused while it failed, {retried} dead letters retried"
        )

    async def _deliveries(self, status: str | None) -> list[str]:
        ids: list[str] = []
        after = None
        while True:
            page = (await self.clients.admin(ops.DELIVERIES, status=status, after=after))[
                "webhookDeliveries"
            ]
            ids += [node["id"] for node in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                return ids
            after = page["pageInfo"]["endCursor"]

    # Audits --------------------------------------------------------------------------------

    async def _audit(self, audit: Audit) -> None:
        for code in CHANNELS:
            shown = self.views[code].shown
            before = {sku: shown.get(sku, 0) for sku in audit.skus}
            rows = await self.clients.admin(
                ops.CHANNEL_INVENTORY, channel=code, skus=list(audit.skus)
            )
            sellable = {
                row["product"]["sku"]: row["availableToSell"] for row in rows["channelInventory"]
            }
            for sku in audit.skus:
                # onhand answered as of a moment while the query was in flight: the channel
                # is accurate if it showed that figure just before the query or just after.
                truth = sellable.get(sku, 0)
                after = shown.get(sku, 0)
                self.tally.channels[code].audit(truth if before[sku] == truth else after, truth)


def _bind(function: Callable[..., Awaitable[None]], *args: Any) -> Callable[[], Awaitable[None]]:
    return lambda: function(*args)


def _raw_id(node_id: str) -> str:
    """A global id's number (X-Onhand-Delivery carries the number alone)."""
    return base64.b64decode(node_id).decode().rpartition(":")[2]
