"""The soak's clients: every kind of stock operation, through GraphQL over HTTP, chosen at
random (seeded) and remembered by outcome.

Each operation is one request. Some need what another made (a cart to commit, an order to
fulfil, a transfer order to ship or receive): they take it from the shared `Stock` state, and
when there is none yet they make it instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

# Refusals the rules make under a random load: the stock is not there, the hold already
# expired or ended, a transfer was received in full meanwhile. Anything else is a failure.
EXPECTED = frozenset({"INSUFFICIENT_STOCK", "INVALID_TRANSITION", "NOT_FOUND", "EXCEEDS_SHIPPED"})
ERRORS = "errors { code field message }"

RESERVE = f"""mutation($input: CreateReservationInput!) {{
  createReservation(input: $input) {{ reservations {{ id }} {ERRORS} }} }}"""
CART = f"""mutation($input: ReserveCartInput!) {{
  reserveCart(input: $input) {{ success reservations {{ id }} {ERRORS} }} }}"""
CONVERT = f"""mutation($input: ConvertToOrderReservationInput!) {{
  convertToOrderReservation(input: $input) {{ {ERRORS} }} }}"""
FULFIL = f"""mutation($input: FulfillReservationInput!) {{
  fulfillReservation(input: $input) {{ {ERRORS} }} }}"""
RELEASE = f"""mutation($input: ReleaseReservationInput!) {{
  releaseReservation(input: $input) {{ {ERRORS} }} }}"""
ADJUST = f"""mutation($input: AdjustInventoryInput!) {{
  adjustInventory(input: $input) {{ movement {{ id }} {ERRORS} }} }}"""
TRANSFER = f"""mutation($input: TransferInventoryInput!) {{
  transferInventory(input: $input) {{ {ERRORS} }} }}"""
CREATE_ORDER = f"""mutation($input: CreateTransferOrderInput!) {{
  createTransferOrder(input: $input) {{ transferOrder {{ id }} {ERRORS} }} }}"""
SHIP = f"""mutation($input: ShipTransferOrderInput!) {{
  shipTransferOrder(input: $input) {{ {ERRORS} }} }}"""
RECEIVE = f"""mutation($input: ReceiveTransferOrderInput!) {{
  receiveTransferOrder(input: $input) {{ {ERRORS} }} }}"""
IMPORT = f"""mutation($input: ImportInventoryInput!) {{
  importInventory(input: $input) {{ job {{ status }} {ERRORS} }} }}"""
EVENTS = """mutation($input: RecordInventoryEventsInput!) {
  recordInventoryEvents(input: $input) {
    results { status errors { code field message } } errors { code field message } } }"""
COUNT = f"""mutation($input: RecordCycleCountInput!) {{
  recordCycleCount(input: $input) {{ cycleCount {{ id }} {ERRORS} }} }}"""
LEVEL = """query($sku: String!) {
  product(sku: $sku) { inventoryLevels { quantity warehouse { code } } } }"""

# How often each kind is chosen, out of the sum.
WEIGHTS = {
    "reservation": 16,
    "cart": 10,
    "commit": 6,
    "fulfil": 4,
    "release": 6,
    "adjustment": 14,
    "transfer": 8,
    "transfer order": 4,
    "ship": 3,
    "receive": 3,
    "import": 2,
    "source events": 6,
    "cycle count": 3,
}


@dataclass
class Outcomes:
    """What came of every operation: by kind and outcome ("ok" or an error code), with any
    unexpected answer kept whole for the report."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def record(self, kind: str, outcome: str, detail: str = "") -> None:
        self.counts[(kind, outcome)] += 1
        if outcome != "ok" and outcome not in EXPECTED and len(self.unexpected) < 50:
            self.unexpected.append(f"{kind}: {outcome}: {detail[:500]}")

    def total(self) -> int:
        return sum(self.counts.values())

    def unexpected_count(self) -> int:
        return sum(n for (_, outcome), n in self.counts.items() if unexpected(outcome))


def unexpected(outcome: str) -> bool:
    return outcome != "ok" and outcome not in EXPECTED


@dataclass
class Stock:
    """What the clients share: the catalogue and the holds and orders under way."""

    skus: list[str]
    warehouses: list[str]
    channel: str
    carts: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    pending: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    in_transit: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    numbers: itertools.count[int] = field(default_factory=itertools.count)


class RefusedError(Exception):
    """An answer that is not a success: its outcome (a code) and the answer."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.detail = detail


@dataclass
class SoakClient:
    http: httpx.AsyncClient
    token: str
    stock: Stock
    outcomes: Outcomes
    rng: random.Random
    source_system: str
    sequence: int = 0
    unsent: list[dict[str, Any]] = field(default_factory=list)

    async def call(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The data of a response; a transport failure, a non-200 or a GraphQL error raise
        RefusedError with what it was."""
        try:
            response = await self.http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError as error:
            raise RefusedError(f"transport: {type(error).__name__}", str(error)) from None
        if response.status_code != 200:
            raise RefusedError(f"HTTP {response.status_code}", response.text)
        body = response.json()
        if body.get("errors"):
            code = body["errors"][0].get("extensions", {}).get("code", "no code")
            raise RefusedError(f"GraphQL {code}", str(body["errors"]))
        return dict(body["data"])

    async def mutate(self, name: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = (await self.call(query, {"input": variables}))[name]
        if payload.get("errors"):
            raise RefusedError(payload["errors"][0]["code"], str(payload["errors"]))
        return payload

    async def run(self, stop: asyncio.Event) -> None:
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        while not stop.is_set():
            kind = self.possible(self.rng.choices(kinds, weights)[0])
            try:
                await OPERATIONS[kind](self)
            except RefusedError as refused:
                self.outcomes.record(kind, refused.outcome, refused.detail)
            else:
                self.outcomes.record(kind, "ok")

    def possible(self, kind: str) -> str:
        """`kind`, or what must come first when nothing it needs was made yet (a cart before
        its commit, a transfer order before its shipment, ...)."""
        stock = self.stock
        needs = {
            "commit": ("cart", stock.carts),
            "fulfil": ("commit", stock.orders),
            "release": ("reservation", stock.holds or stock.carts),
            "ship": ("transfer order", stock.pending),
            "receive": ("ship", stock.in_transit),
        }
        while kind in needs and not needs[kind][1]:
            kind = needs[kind][0]
        return kind

    # The operations: one request each (a cycle count reads the levels first).

    def _sku(self) -> str:
        return self.rng.choice(self.stock.skus)

    def _warehouse(self) -> str:
        return self.rng.choice(self.stock.warehouses)

    def _two_warehouses(self) -> tuple[str, str]:
        source, destination = self.rng.sample(self.stock.warehouses, 2)
        return source, destination

    def _expiry(self) -> str:
        # Seconds away, so that the sweeper expires many of them during the soak.
        moment = datetime.now(UTC) + timedelta(seconds=self.rng.uniform(1.5, 20))
        return moment.isoformat()

    def _reference(self, prefix: str) -> str:
        return f"{prefix}-{self.source_system}-{next(self.stock.numbers)}"

    async def reservation(self) -> None:
        variables: dict[str, Any] = {
            "sku": self._sku(),
            "quantity": self.rng.randint(1, 3),
            "type": "CART",
            "channelCode": self.stock.channel,
            "expiresAt": self._expiry(),
            "referenceId": self._reference("hold"),
        }
        if self.rng.random() < 0.7:  # otherwise routed: the warehouse is chosen for it
            variables["warehouseCode"] = self._warehouse()
        payload = await self.mutate("createReservation", RESERVE, variables)
        self.stock.holds.extend(r["id"] for r in payload["reservations"])

    async def cart(self) -> None:
        reference = self._reference("cart")
        lines = [
            {"sku": sku, "quantity": self.rng.randint(1, 3), "warehouseCode": self._warehouse()}
            for sku in self.rng.sample(self.stock.skus, self.rng.randint(1, 3))
        ]
        payload = await self.mutate(
            "reserveCart",
            CART,
            {
                "referenceId": reference,
                "channelCode": self.stock.channel,
                "lines": lines,
                "expiresAt": self._expiry(),
                "allowPartial": self.rng.random() < 0.5,
            },
        )
        if payload["reservations"]:
            self.stock.carts.append(reference)

    async def commit(self) -> None:
        cart = self.stock.carts.pop(self.rng.randrange(len(self.stock.carts)))
        order = cart.replace("cart-", "order-", 1)
        await self.mutate("convertToOrderReservation", CONVERT, {"cartId": cart, "orderId": order})
        self.stock.orders.append(order)

    async def fulfil(self) -> None:
        order = self.stock.orders.pop(self.rng.randrange(len(self.stock.orders)))
        await self.mutate("fulfillReservation", FULFIL, {"referenceId": order})

    async def release(self) -> None:
        if self.stock.holds and (not self.stock.carts or self.rng.random() < 0.6):
            hold = self.stock.holds.pop(self.rng.randrange(len(self.stock.holds)))
            await self.mutate("releaseReservation", RELEASE, {"id": hold})
        else:
            cart = self.stock.carts.pop(self.rng.randrange(len(self.stock.carts)))
            await self.mutate("releaseReservation", RELEASE, {"referenceId": cart})

    async def adjustment(self) -> None:
        place = {"sku": self._sku(), "warehouseCode": self._warehouse()}
        if self.rng.random() < 0.5:
            change = {"adjustment": self.rng.randint(1, 12), "reason": "RECEIPT"}
        else:
            change = {
                "adjustment": -self.rng.randint(1, 6),
                "reason": "SALE",
                "channelCode": self.stock.channel,
            }
        await self.mutate("adjustInventory", ADJUST, {**place, **change})

    async def transfer(self) -> None:
        source, destination = self._two_warehouses()
        await self.mutate(
            "transferInventory",
            TRANSFER,
            {
                "sku": self._sku(),
                "fromWarehouseCode": source,
                "toWarehouseCode": destination,
                "quantity": self.rng.randint(1, 5),
            },
        )

    async def transfer_order(self) -> None:
        source, destination = self._two_warehouses()
        items = [
            (sku, self.rng.randint(1, 5))
            for sku in self.rng.sample(self.stock.skus, self.rng.randint(1, 2))
        ]
        payload = await self.mutate(
            "createTransferOrder",
            CREATE_ORDER,
            {
                "fromWarehouseCode": source,
                "toWarehouseCode": destination,
                "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
            },
        )
        self.stock.pending.append((payload["transferOrder"]["id"], items))

    async def ship(self) -> None:
        order = self.stock.pending.pop(0)
        await self.mutate("shipTransferOrder", SHIP, {"id": order[0]})
        self.stock.in_transit.append(order)

    async def receive(self) -> None:
        order_id, items = self.stock.in_transit.pop(0)
        received = []
        for sku, quantity in items:
            if self.rng.random() < 0.2 and quantity > 1:  # one short, written off
                got = quantity - 1
                received.append(
                    {"sku": sku, "quantity": got, "closeShort": True, "discrepancyReason": "lost"}
                )
            else:
                received.append({"sku": sku, "quantity": quantity})
        await self.mutate("receiveTransferOrder", RECEIVE, {"id": order_id, "items": received})

    async def import_(self) -> None:
        rows = [
            f"{sku},{self._warehouse()},+{self.rng.randint(1, 20)}"
            for sku in self.rng.sample(self.stock.skus, self.rng.randint(1, 6))
        ]
        csv = "SKU,WarehouseCode,Quantity\n" + "\n".join(rows) + "\n"
        payload = await self.mutate("importInventory", IMPORT, {"csv": csv, "mode": "ADJUST"})
        if payload["job"]["status"] != "SUCCEEDED":
            raise RefusedError(f"import {payload['job']['status']}", str(payload))

    async def source_events(self) -> None:
        # A source system resends what it could not deliver, in order, before anything new
        # (as an ERP's outbox would): a request that failed leaves no gap in its sequence.
        resent = {event["eventId"] for event in self.unsent}
        events = self.unsent
        for _ in range(self.rng.randint(1, 4)):
            self.sequence += 1
            receipt = self.rng.random() < 0.55
            events.append(
                {
                    "sourceSystem": self.source_system,
                    "eventId": f"{self.source_system}-{self.sequence}",
                    "sequence": self.sequence,
                    "type": "RECEIPT" if receipt else "PICK",
                    "sku": self._sku(),
                    "warehouseCode": self._warehouse(),
                    "quantityDelta": self.rng.randint(1, 8) * (1 if receipt else -1),
                    "occurredAt": datetime.now(UTC).isoformat(),
                }
            )
        self.unsent = events
        payload = await self.mutate("recordInventoryEvents", EVENTS, {"events": events})
        self.unsent = []
        for event, result in zip(events, payload["results"], strict=True):
            # FAILED: the ledger refused a PICK of stock that is not there (its sequence
            # moves on); DUPLICATE: a resent event whose first sending was recorded though
            # its answer was lost. Anything else would mean events lost or out of order.
            if result["status"] == "FAILED":
                codes = {e["code"] for e in result["errors"]}
                if codes != {"INSUFFICIENT_STOCK"}:
                    raise RefusedError(f"event FAILED {sorted(codes)}", str(result))
            elif result["status"] == "DUPLICATE" and event["eventId"] in resent:
                continue
            elif result["status"] != "APPLIED":
                raise RefusedError(f"event {result['status']}", str(result))

    async def cycle_count(self) -> None:
        code = self._warehouse()
        counts = []
        for sku in self.rng.sample(self.stock.skus, self.rng.randint(1, 3)):
            data = await self.call(LEVEL, {"sku": sku})
            levels = data["product"]["inventoryLevels"]
            found = next(lv["quantity"] for lv in levels if lv["warehouse"]["code"] == code)
            counted = max(0, found + self.rng.randint(-3, 3))
            counts.append({"sku": sku, "countedQuantity": counted})
        await self.mutate("recordCycleCount", COUNT, {"warehouseCode": code, "counts": counts})


Operation = Callable[[SoakClient], Awaitable[None]]
OPERATIONS: dict[str, Operation] = {
    "reservation": SoakClient.reservation,
    "cart": SoakClient.cart,
    "commit": SoakClient.commit,
    "fulfil": SoakClient.fulfil,
    "release": SoakClient.release,
    "adjustment": SoakClient.adjustment,
    "transfer": SoakClient.transfer,
    "transfer order": SoakClient.transfer_order,
    "ship": SoakClient.ship,
    "receive": SoakClient.receive,
    "import": SoakClient.import_,
    "source events": SoakClient.source_events,
    "cycle count": SoakClient.cycle_count,
}


async def run_clients(
    urls: list[str],
    token: str,
    stock: Stock,
    clients: int,
    seconds: float,
    seed: int,
) -> tuple[Outcomes, float]:
    """`clients` clients, spread over the servers at `urls`, for `seconds`; the outcomes and
    the time it really took (the operations in flight at the end are finished)."""
    outcomes = Outcomes()
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        workers = []
        for n in range(clients):
            url = urls[n % len(urls)]
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))
            rng = random.Random(seed * 1000 + n)
            workers.append(SoakClient(http, token, stock, outcomes, rng, f"ERP-{n}"))
        began = time.monotonic()
        tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        return outcomes, time.monotonic() - began
