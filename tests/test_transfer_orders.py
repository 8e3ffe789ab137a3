"""Transfer orders: create (reserved at the source), ship (in transit), receive (in parts,
with discrepancies), cancel, and every transition that is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.workers.sweeper import sweep_all
from support import factories
from support.channels import check_invariants
from support.client import Client

ERRORS = "errors { field message code available requested }"
ORDER = """
  id number status trackingNumber version cancelReason
  fromWarehouse { code } toWarehouse { code }
  lines {
    id quantity shippedQuantity receivedQuantity closedQuantity returnedQuantity
    outstandingQuantity product { sku } reservation { status referenceId type heldQuantity }
  }
  discrepancies { shipped received difference reason status warehouse { code } }
"""
CREATE = f"""
mutation($input: CreateTransferOrderInput!) {{
  createTransferOrder(input: $input) {{ transferOrder {{ {ORDER} }} {ERRORS} }}
}}"""
SHIP = f"""
mutation($input: ShipTransferOrderInput!) {{
  shipTransferOrder(input: $input) {{ transferOrder {{ {ORDER} }} {ERRORS} }}
}}"""
RECEIVE = f"""
mutation($input: ReceiveTransferOrderInput!) {{
  receiveTransferOrder(input: $input) {{ transferOrder {{ {ORDER} }} {ERRORS} }}
}}"""
CANCEL = f"""
mutation($input: CancelTransferOrderInput!) {{
  cancelTransferOrder(input: $input) {{ transferOrder {{ {ORDER} }} {ERRORS} }}
}}"""
LIST = """
query($filter: TransferOrderFilterInput) {
  transferOrders(filter: $filter, first: 10) { totalCount nodes { number status } }
}"""


async def call(client: Client, document: str, name: str, **values: Any) -> dict[str, Any]:
    return dict((await client(document, {"input": values}))[name])


async def create(client: Client, **values: Any) -> dict[str, Any]:
    return await call(client, CREATE, "createTransferOrder", **values)


async def ship(client: Client, **values: Any) -> dict[str, Any]:
    return await call(client, SHIP, "shipTransferOrder", **values)


async def receive(client: Client, **values: Any) -> dict[str, Any]:
    return await call(client, RECEIVE, "receiveTransferOrder", **values)


async def cancel(client: Client, **values: Any) -> dict[str, Any]:
    return await call(client, CANCEL, "cancelTransferOrder", **values)


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def level(engine: AsyncEngine, sku: str, code: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT l.* FROM inventory_levels l JOIN products p ON p.id = l.product_id"
                    " JOIN warehouses w ON w.id = l.warehouse_id"
                    " WHERE p.sku = :sku AND w.code = :code"
                ),
                {"sku": sku, "code": code},
            )
        ).first()
    return dict(row._mapping) if row else None


async def snapshot(engine: AsyncEngine) -> tuple[Any, ...]:
    """Everything a refused change must leave as it was."""
    async with engine.connect() as conn:
        result = []
        for query in (
            "SELECT * FROM inventory_levels ORDER BY id",
            "SELECT count(*) FROM inventory_movements",
            "SELECT id, status, version FROM transfer_orders ORDER BY id",
            "SELECT * FROM transfer_order_lines ORDER BY id",
            "SELECT id, status FROM reservations ORDER BY id",
            "SELECT count(*) FROM transfer_discrepancies",
        ):
            result.append([tuple(row) for row in await conn.execute(text(query))])
    return tuple(result)


async def events(engine: AsyncEngine, topic: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM outbox WHERE topic = :topic ORDER BY id"), {"topic": topic}
        )
        return [dict(row.payload) for row in rows]


@pytest.fixture
async def stock(admin: Client) -> dict[str, str]:
    """SKU-A: 100 at DC-1; SKU-B: 50 at DC-1; DC-2 stocks nothing yet."""
    ids = await factories.stocked(admin, "SKU-A", {"DC-1": 100})
    b = await factories.stocked(admin, "SKU-B", {"DC-1": 50})
    ids["SKU-B"] = b["product"]
    ids["DC-2"] = (await factories.warehouse(admin, "DC-2"))["id"]
    return ids


async def new_order(client: Client, a: int = 10, b: int = 5) -> dict[str, Any]:
    made = await create(
        client,
        fromWarehouseCode="DC-1",
        toWarehouseCode="DC-2",
        items=[{"sku": "SKU-A", "quantity": a}, {"sku": "SKU-B", "quantity": b}],
        expectedDelivery="2030-01-01T00:00:00Z",
    )
    assert made["errors"] == []
    return dict(made["transferOrder"])


async def test_create_reserves_at_the_source(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator)
    assert order["status"] == "PENDING"
    assert order["fromWarehouse"]["code"] == "DC-1"
    assert order["toWarehouse"]["code"] == "DC-2"
    assert [line["reservation"] for line in order["lines"]] == [
        {"status": "ACTIVE", "referenceId": order["number"], "type": "TRANSFER", "heldQuantity": n}
        for n in (10, 5)
    ]
    a = await level(engine, "SKU-A", "DC-1")
    assert a is not None
    assert (a["on_hand"], a["reserved"], a["available"]) == (100, 10, 90)
    [event] = await events(engine, "TRANSFER_ORDER_CHANGED")
    assert (event["kind"], event["status"], event["number"]) == (
        "CREATED",
        "PENDING",
        order["number"],
    )
    await check_invariants(engine)


async def test_ship_moves_the_units_into_transit(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator)
    shipped = await ship(operator, id=order["id"], trackingNumber="1Z999")
    assert shipped["errors"] == []
    after = shipped["transferOrder"]
    assert (after["status"], after["trackingNumber"]) == ("IN_TRANSIT", "1Z999")
    assert [line["shippedQuantity"] for line in after["lines"]] == [10, 5]
    assert [line["reservation"]["status"] for line in after["lines"]] == ["FULFILLED"] * 2
    source = await level(engine, "SKU-A", "DC-1")
    target = await level(engine, "SKU-A", "DC-2")
    assert source is not None
    assert target is not None
    assert (source["on_hand"], source["reserved"], source["available"]) == (90, 0, 90)
    assert (target["on_hand"], target["incoming"]) == (0, 10)
    async with engine.connect() as conn:
        types = (
            (
                await conn.execute(
                    text(
                        "SELECT type FROM inventory_movements WHERE reference_id = :n ORDER BY id"
                    ),
                    {"n": order["number"]},
                )
            )
            .scalars()
            .all()
        )
    assert sorted(types) == [
        "IN_TRANSIT",
        "IN_TRANSIT",
        "RESERVED",
        "RESERVED",
        "TRANSFER_OUT",
        "TRANSFER_OUT",
    ]
    assert [e["kind"] for e in await events(engine, "TRANSFER_ORDER_CHANGED")] == [
        "CREATED",
        "SHIPPED",
    ]
    await check_invariants(engine)


async def test_receipts_in_parts_complete_the_order(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator)
    await ship(operator, id=order["id"])
    first = await receive(operator, id=order["id"], items=[{"sku": "SKU-A", "quantity": 4}])
    assert first["errors"] == []
    assert first["transferOrder"]["status"] == "PARTIALLY_RECEIVED"
    target = await level(engine, "SKU-A", "DC-2")
    assert target is not None
    assert (target["on_hand"], target["incoming"]) == (4, 6)
    line_b = first["transferOrder"]["lines"][1]["id"]
    done = await receive(
        operator,
        id=order["id"],
        items=[{"sku": "SKU-A", "quantity": 6}, {"lineId": line_b, "quantity": 5}],
    )
    assert done["errors"] == []
    after = done["transferOrder"]
    assert after["status"] == "COMPLETED"
    assert [line["receivedQuantity"] for line in after["lines"]] == [10, 5]
    assert after["discrepancies"] == []
    target = await level(engine, "SKU-A", "DC-2")
    assert target is not None
    assert (target["on_hand"], target["incoming"]) == (10, 0)
    assert await events(engine, "TRANSFER_DISCREPANCY") == []
    await check_invariants(engine)


async def test_a_short_receipt_records_a_discrepancy_and_its_event(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator)
    await ship(operator, id=order["id"])
    got = await receive(
        operator,
        id=order["id"],
        items=[
            {
                "sku": "SKU-A",
                "quantity": 7,
                "closeShort": True,
                "discrepancyReason": "3 crushed in transit",
            }
        ],
    )
    assert got["errors"] == []
    after = got["transferOrder"]
    assert after["status"] == "PARTIALLY_RECEIVED"  # SKU-B is still on its way
    assert after["lines"][0]["closedQuantity"] == 3
    assert after["discrepancies"] == [
        {
            "shipped": 10,
            "received": 7,
            "difference": -3,
            "reason": "3 crushed in transit",
            "status": "PENDING_INVESTIGATION",
            "warehouse": {"code": "DC-2"},
        }
    ]
    target = await level(engine, "SKU-A", "DC-2")
    assert target is not None
    assert (target["on_hand"], target["incoming"]) == (7, 0)
    [event] = await events(engine, "TRANSFER_DISCREPANCY")
    async with engine.connect() as conn:
        ids = (
            await conn.execute(
                text(
                    "SELECT d.id, d.transfer_order_id, d.product_id, d.warehouse_id"
                    " FROM transfer_discrepancies d"
                )
            )
        ).one()
    assert event["discrepancyId"] == ids.id
    assert event["transferOrderId"] == ids.transfer_order_id
    assert (event["productId"], event["warehouseId"]) == (ids.product_id, ids.warehouse_id)
    assert (event["shipped"], event["received"], event["reason"]) == (
        10,
        7,
        "3 crushed in transit",
    )
    report = await operator(
        "{ reconciliationReport { transferDiscrepancies { nodes { shipped received reason } } } }"
    )
    assert report["reconciliationReport"]["transferDiscrepancies"]["nodes"] == [
        {"shipped": 10, "received": 7, "reason": "3 crushed in transit"}
    ]
    rest = await receive(operator, id=order["id"], items=[{"sku": "SKU-B", "quantity": 5}])
    assert rest["transferOrder"]["status"] == "COMPLETED"
    await check_invariants(engine)


async def test_cancelling_a_pending_order_releases_its_reservations(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator)
    done = await cancel(operator, id=order["id"], reason="no longer needed")
    assert done["errors"] == []
    after = done["transferOrder"]
    assert (after["status"], after["cancelReason"]) == ("CANCELLED", "no longer needed")
    assert [line["reservation"]["status"] for line in after["lines"]] == ["RELEASED"] * 2
    source = await level(engine, "SKU-A", "DC-1")
    assert source is not None
    assert (source["on_hand"], source["reserved"]) == (100, 0)
    assert await level(engine, "SKU-A", "DC-2") is None
    await check_invariants(engine)


async def test_cancelling_in_transit_returns_what_is_on_the_way(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator)
    await ship(operator, id=order["id"])
    await receive(operator, id=order["id"], items=[{"sku": "SKU-A", "quantity": 3}])
    done = await cancel(operator, id=order["id"])
    assert done["errors"] == []
    after = done["transferOrder"]
    assert after["status"] == "CANCELLED"
    assert [line["returnedQuantity"] for line in after["lines"]] == [7, 5]
    assert [line["outstandingQuantity"] for line in after["lines"]] == [0, 0]
    source = await level(engine, "SKU-A", "DC-1")
    target = await level(engine, "SKU-A", "DC-2")
    assert source is not None
    assert target is not None
    assert source["on_hand"] == 97
    assert (target["on_hand"], target["incoming"]) == (3, 0)
    source_b = await level(engine, "SKU-B", "DC-1")
    assert source_b is not None
    assert source_b["on_hand"] == 50
    await check_invariants(engine)


async def test_invalid_transitions_are_refused_and_change_nothing(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    pending = await new_order(operator)
    before = await snapshot(engine)
    refused = await receive(operator, id=pending["id"], items=[{"sku": "SKU-A", "quantity": 1}])
    assert codes(refused) == [("id", "INVALID_TRANSITION")]
    assert await snapshot(engine) == before

    await ship(operator, id=pending["id"])
    before = await snapshot(engine)
    twice = await ship(operator, id=pending["id"])
    assert codes(twice) == [("id", "INVALID_TRANSITION")]
    too_many = await receive(operator, id=pending["id"], items=[{"sku": "SKU-A", "quantity": 11}])
    assert codes(too_many) == [("items.0.quantity", "EXCEEDS_SHIPPED")]
    assert too_many["errors"][0]["available"] == 10
    assert await snapshot(engine) == before

    await receive(operator, id=pending["id"], items=[{"sku": "SKU-A", "quantity": 8}])
    before = await snapshot(engine)
    beyond = await receive(operator, id=pending["id"], items=[{"sku": "SKU-A", "quantity": 3}])
    assert codes(beyond) == [("items.0.quantity", "EXCEEDS_SHIPPED")]
    assert await snapshot(engine) == before

    cancelled = await new_order(operator, 1, 1)
    await cancel(operator, id=cancelled["id"])
    before = await snapshot(engine)
    for refused in (
        await receive(operator, id=cancelled["id"], items=[{"sku": "SKU-A", "quantity": 1}]),
        await ship(operator, id=cancelled["id"]),
        await cancel(operator, id=cancelled["id"]),
    ):
        assert codes(refused) == [("id", "INVALID_TRANSITION")]
    assert await snapshot(engine) == before

    await receive(
        operator,
        id=pending["id"],
        items=[{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 5}],
    )
    before = await snapshot(engine)
    completed = await cancel(operator, id=pending["id"])
    assert codes(completed) == [("id", "INVALID_TRANSITION")]
    assert await snapshot(engine) == before
    await check_invariants(engine)


async def test_not_enough_stock_creates_nothing(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    made = await create(
        operator,
        fromWarehouseCode="DC-1",
        toWarehouseCode="DC-2",
        items=[{"sku": "SKU-A", "quantity": 5}, {"sku": "SKU-B", "quantity": 51}],
    )
    assert codes(made) == [("items.1.quantity", "INSUFFICIENT_STOCK")]
    assert made["errors"][0]["available"] == 50
    assert made["transferOrder"] is None
    assert await snapshot(engine) == before


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"toWarehouseCode": "DC-1"}, [("toWarehouseId", "INVALID")]),
        ({"items": []}, [("items", "REQUIRED")]),
        ({"items": [{"sku": "SKU-A", "quantity": 0}]}, [("items.0.quantity", "INVALID")]),
        ({"items": [{"sku": "NOPE", "quantity": 1}]}, [("items.0.sku", "NOT_FOUND")]),
        ({"items": [{"quantity": 1}]}, [("items.0.productId", "REQUIRED")]),
        ({"toWarehouseCode": "NOWHERE"}, [("toWarehouseCode", "NOT_FOUND")]),
        (
            {"items": [{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-A", "quantity": 2}]},
            [("items.1.sku", "INVALID")],
        ),
        ({"expectedDelivery": "2030-01-01T00:00:00"}, [("expectedDelivery", "INVALID")]),
    ],
)
async def test_bad_create_input_names_the_field(
    operator: Client,
    stock: dict[str, str],
    engine: AsyncEngine,
    values: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    before = await snapshot(engine)
    base = {
        "fromWarehouseCode": "DC-1",
        "toWarehouseCode": "DC-2",
        "items": [{"sku": "SKU-A", "quantity": 1}],
    }
    made = await create(operator, **{**base, **values})
    assert codes(made) == expected
    assert await snapshot(engine) == before


async def test_bad_receipt_input_names_the_field(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator)
    await ship(operator, id=order["id"])
    before = await snapshot(engine)
    cases = [
        ([{"sku": "SKU-A", "quantity": 1, "closeShort": True}], "items.0.discrepancyReason"),
        ([{"sku": "SKU-A", "quantity": -1}], "items.0.quantity"),
        ([{"sku": "SKU-A", "quantity": 0}], "items.0.quantity"),
        ([{"sku": "SKU-C", "quantity": 1}], "items.0.sku"),
        ([{"quantity": 1}], "items.0.lineId"),
        ([{"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-A", "quantity": 1}], "items.1.sku"),
    ]
    await factories.product(operator, "SKU-C")
    before = await snapshot(engine)
    for items, field in cases:
        refused = await receive(operator, id=order["id"], items=items)
        assert [e["field"] for e in refused["errors"]] == [field], refused
    assert await snapshot(engine) == before
    bad_id = await receive(operator, id="nonsense", items=[{"sku": "SKU-A", "quantity": 1}])
    assert codes(bad_id) == [("id", "INVALID_ID")]


async def test_idempotency_keys_make_retries_safe(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    values = {
        "fromWarehouseCode": "DC-1",
        "toWarehouseCode": "DC-2",
        "items": [{"sku": "SKU-A", "quantity": 10}],
        "idempotencyKey": "to-1",
    }
    first = await create(operator, **values)
    again = await create(operator, **values)
    assert again["transferOrder"]["id"] == first["transferOrder"]["id"]
    reused = await create(operator, **{**values, "items": [{"sku": "SKU-A", "quantity": 9}]})
    assert codes(reused) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    order_id = first["transferOrder"]["id"]
    await ship(operator, id=order_id, idempotencyKey="ship-1")
    replay = await ship(operator, id=order_id, idempotencyKey="ship-1")
    assert replay["errors"] == []
    assert replay["transferOrder"]["status"] == "IN_TRANSIT"
    receipt = {"id": order_id, "items": [{"sku": "SKU-A", "quantity": 4}], "idempotencyKey": "r-1"}
    await receive(operator, **receipt)
    replay = await receive(operator, **receipt)
    assert replay["transferOrder"]["lines"][0]["receivedQuantity"] == 4
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM transfer_orders"))).scalar()
    assert count == 1
    target = await level(engine, "SKU-A", "DC-2")
    assert target is not None
    assert (target["on_hand"], target["incoming"]) == (4, 6)


async def test_an_expired_hold_ships_from_what_is_available(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    """A hold that lapsed (the sweeper expired it) holds nothing: shipping takes the units
    from what is available."""
    order = await new_order(operator, 10, 5)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE reservations SET expires_at = now() - interval '1 second'"
                " WHERE reference_id = :number"
            ),
            {"number": order["number"]},
        )
    # The sweeper's pass (the shared server's sweeper looks only hourly: tests/conftest.py).
    assert await sweep_all(engine, batch=100) >= 1
    assert await active_holds(engine, order["number"]) == 0
    shipped = await ship(operator, id=order["id"])
    assert shipped["errors"] == []
    source = await level(engine, "SKU-A", "DC-1")
    assert source is not None
    assert (source["on_hand"], source["reserved"]) == (90, 0)
    await check_invariants(engine)


async def active_holds(engine: AsyncEngine, number: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM reservations WHERE reference_id = :n AND status = 'ACTIVE'"),
            {"n": number},
        )
        return int(found.scalar_one())


HOLD_CHANGES = (
    ("releaseReservation", "ReleaseReservationInput", lambda hold, number: {"id": hold}),
    ("releaseReservation", "ReleaseReservationInput", lambda hold, number: {"referenceId": number}),
    (
        "extendReservation",
        "ExtendReservationInput",
        lambda hold, number: {"id": hold, "extendBySeconds": 60},
    ),
    ("fulfillReservation", "FulfillReservationInput", lambda hold, number: {"id": hold}),
    ("fulfillReservation", "FulfillReservationInput", lambda hold, number: {"referenceId": number}),
    (
        "convertToOrderReservation",
        "ConvertToOrderReservationInput",
        lambda hold, number: {"cartId": number, "orderId": "order-1"},
    ),
)


async def test_a_transfer_orders_holds_end_only_through_the_order(
    admin: Client,
    operator: Client,
    storefront: Client,
    stock: dict[str, str],
    engine: AsyncEngine,
) -> None:
    """Released, extended, shipped or converted as plain reservations, a transfer order's
    holds would leave it PENDING with nothing held (and its shipping short): only
    shipTransferOrder and cancelTransferOrder end them. Nobody is let through, whatever
    their role."""
    order = await new_order(operator, 10, 5)
    found = await operator(
        "query($n: String) { transferOrder(number: $n) { lines { reservation { id } } } }",
        {"n": order["number"]},
    )
    hold = found["transferOrder"]["lines"][0]["reservation"]["id"]
    before = await snapshot(engine)
    for caller in (admin, operator, storefront):
        for field, input_type, values in HOLD_CHANGES:
            body = await caller(
                f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ {ERRORS} }} }}",
                {"input": values(hold, order["number"])},
            )
            [error] = body[field]["errors"]
            assert error["code"] == "TRANSFER_ORDER_HOLD", (field, values, error)
            assert order["number"] in error["message"]
    assert await snapshot(engine) == before
    shipped = await ship(operator, id=order["id"])
    assert shipped["errors"] == []
    assert shipped["transferOrder"]["status"] == "IN_TRANSIT"
    source = await level(engine, "SKU-A", "DC-1")
    assert source is not None
    assert (source["on_hand"], source["reserved"]) == (90, 0)
    await check_invariants(engine)


async def test_transfer_orders_by_status_and_warehouse(
    operator: Client, stock: dict[str, str], admin: Client
) -> None:
    await factories.warehouse(admin, "DC-3")
    first = await new_order(operator, 1, 1)
    await new_order(operator, 1, 1)
    other = await create(
        operator,
        fromWarehouseCode="DC-1",
        toWarehouseCode="DC-3",
        items=[{"sku": "SKU-A", "quantity": 1}],
    )
    await ship(operator, id=first["id"])

    async def numbers(filter: dict[str, Any] | None) -> list[str]:
        found = await operator(LIST, {"filter": filter})
        return [n["number"] for n in found["transferOrders"]["nodes"]]

    assert await numbers(None) == ["TO-3", "TO-2", "TO-1"]
    assert await numbers({"status": ["IN_TRANSIT"]}) == ["TO-1"]
    assert await numbers({"status": ["PENDING"], "warehouseCode": "DC-2"}) == ["TO-2"]
    assert await numbers({"toWarehouseCode": "DC-3"}) == [other["transferOrder"]["number"]]
    assert await numbers({"warehouseCode": "DC-1"}) == ["TO-3", "TO-2", "TO-1"]
    assert await numbers({"warehouseCode": "NOWHERE"}) == []
    one = await operator(
        "query($id: ID!) { transferOrder(id: $id) { number status } }", {"id": first["id"]}
    )
    assert one["transferOrder"] == {"number": "TO-1", "status": "IN_TRANSIT"}
    node = await operator(
        "query($id: ID!) { node(id: $id) { ... on TransferOrder { number } } }",
        {"id": first["id"]},
    )
    assert node["node"] == {"number": "TO-1"}


async def test_storefronts_may_not_move_stock(
    storefront: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    made = await create(
        storefront,
        fromWarehouseCode="DC-1",
        toWarehouseCode="DC-2",
        items=[{"sku": "SKU-A", "quantity": 1}],
    )
    assert codes(made) == [(None, "FORBIDDEN")]
    assert await snapshot(engine) == before


RESOLVE = """
mutation($input: ResolveTransferDiscrepancyInput!) {
  resolveTransferDiscrepancy(input: $input) {
    transferDiscrepancy { status resolution resolvedBy resolvedAt }
    errors { field code }
  }
}"""


async def test_a_discrepancy_is_resolved_once(operator: Client, stock: dict[str, str]) -> None:
    order = await new_order(operator)
    await ship(operator, id=order["id"])
    await receive(
        operator,
        id=order["id"],
        items=[{"sku": "SKU-B", "quantity": 4, "closeShort": True, "discrepancyReason": "lost"}],
    )
    found = await operator(
        "{ reconciliationReport { transferDiscrepancies { nodes { id received } } } }"
    )
    [open_one] = found["reconciliationReport"]["transferDiscrepancies"]["nodes"]
    assert open_one["received"] == 4
    blank = await operator(RESOLVE, {"input": {"id": open_one["id"], "resolution": " "}})
    assert blank["resolveTransferDiscrepancy"]["errors"] == [
        {"field": "resolution", "code": "REQUIRED"}
    ]
    done = await operator(
        RESOLVE, {"input": {"id": open_one["id"], "resolution": "carrier claim filed"}}
    )
    resolved = done["resolveTransferDiscrepancy"]["transferDiscrepancy"]
    assert resolved["status"] == "RESOLVED"
    assert resolved["resolution"] == "carrier claim filed"
    assert resolved["resolvedBy"] == "test-operator"
    assert resolved["resolvedAt"] is not None
    again = await operator(RESOLVE, {"input": {"id": open_one["id"], "resolution": "again"}})
    assert again["resolveTransferDiscrepancy"]["errors"] == [
        {"field": "id", "code": "INVALID_TRANSITION"}
    ]
    found = await operator("{ reconciliationReport { transferDiscrepancies { nodes { id } } } }")
    assert found["reconciliationReport"]["transferDiscrepancies"]["nodes"] == []


async def test_concurrent_ships_and_receipts_move_stock_once(
    operator: Client, stock: dict[str, str], engine: AsyncEngine
) -> None:
    order = await new_order(operator, 10, 5)
    shipped = await asyncio.gather(*(ship(operator, id=order["id"]) for _ in range(6)))
    assert sorted(codes(s) == [] for s in shipped) == [False] * 5 + [True]
    assert all(codes(s) in ([], [("id", "INVALID_TRANSITION")]) for s in shipped)
    # Six receipts of 3 race for 10 units in transit: three fit, the others are refused.
    receipts = await asyncio.gather(
        *(
            receive(operator, id=order["id"], items=[{"sku": "SKU-A", "quantity": 3}])
            for _ in range(6)
        )
    )
    accepted = [r for r in receipts if r["errors"] == []]
    assert len(accepted) == 3
    assert all(
        codes(r) == [("items.0.quantity", "EXCEEDS_SHIPPED")] for r in receipts if r["errors"]
    )
    target = await level(engine, "SKU-A", "DC-2")
    assert target is not None
    assert (target["on_hand"], target["incoming"]) == (9, 1)
    source = await level(engine, "SKU-A", "DC-1")
    assert source is not None
    assert source["on_hand"] == 90
    await check_invariants(engine)
