"""Bad input of every kind gets a clear error and changes nothing, and no request takes the
server down: mutations answer with UserErrors in their payload (or, for a value GraphQL itself
refuses, a coded GraphQL error), queries with GraphQL errors carrying `extensions.code`."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api import ids
from support import factories
from support.client import Client

Ids = dict[str, Any]

# The tables a request could change. The outbox is compared by id: the relay stamps sequences
# on its rows after commit whatever the request under test does.
TABLES = {
    "warehouses": "t::text",
    "products": "t::text",
    "inventory_levels": "t::text",
    "inventory_movements": "t::text",
    "idempotency_keys": "t::text",
    # Alerts are raised in the background about earlier changes (the test data's own low
    # stock, say), whenever the evaluator gets to them: not something a request changed.
    "(SELECT id FROM outbox WHERE topic NOT IN ('ALERT_RAISED', 'ALERT_RESOLVED'))": "t.id::text",
}


async def snapshot(engine: AsyncEngine) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        return {
            table: list(
                (await conn.execute(text(f"SELECT {row} FROM {table} t ORDER BY 1"))).scalars()
            )
            for table, row in TABLES.items()
        }


async def still_serving(client: Client) -> None:
    assert (await client("{ viewer { name } }"))["viewer"]["name"] == "test-admin"


@pytest.fixture
async def world(admin: Client, engine: AsyncEngine) -> Ids:
    """SKU-1 with 10 at DC-1; DC-2 and SKU-2 exist without stock."""
    made = await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    made["DC-2"] = (await factories.warehouse(admin, "DC-2"))["id"]
    made["SKU-2"] = (await factories.product(admin, "SKU-2"))["id"]
    return made


def mutation(field: str) -> str:
    kind = field[0].upper() + field[1:] + "Input"
    return (
        f"mutation($input: {kind}!) {{ {field}(input: $input) {{"
        " errors { field message code } } }"
    )


def level(ids: Ids, **values: Any) -> dict[str, Any]:
    return {"productId": ids["product"], "warehouseId": ids["DC-1"], **values}


def transfer(ids: Ids, **values: Any) -> dict[str, Any]:
    return {
        "productId": ids["product"],
        "fromWarehouseId": ids["DC-1"],
        "toWarehouseId": ids["DC-2"],
        "quantity": 1,
        **values,
    }


# What a message must never show: the internals of a decoder or the database.
LEAKS = ("padding", "literal for int", "Traceback", "asyncpg", "sqlalchemy", "SELECT")


def leaks(messages: list[str]) -> list[str]:
    return [m for m in messages if any(leak in m for leak in LEAKS)]


HUGE = 1_000_000_001
INT_MAX = 2**31 - 1

# (mutation field, its input given the world's ids, the (field, code) of the expected error)
MUTATIONS: list[Any] = [
    # Unknown natural keys.
    (
        "adjustInventory",
        lambda i: {"sku": "NOPE", "warehouseCode": "DC-1", "adjustment": 1, "reason": "x"},
        ("sku", "NOT_FOUND"),
    ),
    (
        "adjustInventory",
        lambda i: {"sku": "SKU-1", "warehouseCode": "NOPE", "adjustment": 1, "reason": "x"},
        ("warehouseCode", "NOT_FOUND"),
    ),
    (
        "createInventoryLevel",
        lambda i: {"sku": "SKU-2", "warehouseCode": "NOPE"},
        ("warehouseCode", "NOT_FOUND"),
    ),
    (
        "setInventoryLevel",
        lambda i: {"sku": "NOPE", "warehouseCode": "DC-1", "quantity": 1},
        ("sku", "NOT_FOUND"),
    ),
    (
        "transferInventory",
        lambda i: transfer(i, toWarehouseId=None, toWarehouseCode="NOPE"),
        ("toWarehouseCode", "NOT_FOUND"),
    ),
    # Negative quantities.
    (
        "adjustInventory",
        lambda i: level(i, adjustment=-11, reason="SALE"),
        ("adjustment", "INSUFFICIENT_STOCK"),
    ),
    (
        "createInventoryLevel",
        lambda i: level(i, productId=i["SKU-2"], quantity=-1),
        ("quantity", "INVALID"),
    ),
    ("setInventoryLevel", lambda i: level(i, quantity=-1), ("quantity", "INVALID")),
    ("setInventoryLevel", lambda i: level(i, safetyStock=-1), ("safetyStock", "INVALID")),
    ("transferInventory", lambda i: transfer(i, quantity=-3), ("quantity", "INVALID")),
    ("transferInventory", lambda i: transfer(i, quantity=11), ("quantity", "INSUFFICIENT_STOCK")),
    # Huge quantities: above the most one movement may move, and at the top of GraphQL's Int.
    (
        "adjustInventory",
        lambda i: level(i, adjustment=HUGE, reason="x"),
        ("adjustment", "QUANTITY_OUT_OF_RANGE"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, adjustment=-HUGE, reason="x"),
        ("adjustment", "QUANTITY_OUT_OF_RANGE"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, adjustment=INT_MAX, reason="x"),
        ("adjustment", "QUANTITY_OUT_OF_RANGE"),
    ),
    (
        "createInventoryLevel",
        lambda i: level(i, productId=i["SKU-2"], quantity=INT_MAX),
        ("quantity", "QUANTITY_OUT_OF_RANGE"),
    ),
    ("setInventoryLevel", lambda i: level(i, quantity=HUGE), ("quantity", "QUANTITY_OUT_OF_RANGE")),
    (
        "setInventoryLevel",
        lambda i: level(i, reorderQuantity=INT_MAX),
        ("reorderQuantity", "QUANTITY_OUT_OF_RANGE"),
    ),
    (
        "transferInventory",
        lambda i: transfer(i, quantity=HUGE),
        ("quantity", "QUANTITY_OUT_OF_RANGE"),
    ),
    # Malformed ids: garbage, another type's id, empty, out of range.
    (
        "adjustInventory",
        lambda i: level(i, productId="garbage", adjustment=1, reason="x"),
        ("productId", "INVALID_ID"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, productId=i["DC-1"], adjustment=1, reason="x"),
        ("productId", "INVALID_ID"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, warehouseId=i["product"], adjustment=1, reason="x"),
        ("warehouseId", "INVALID_ID"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, productId="", adjustment=1, reason="x"),
        ("productId", "INVALID_ID"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, productId=ids.encode("Product", 2**70), adjustment=1, reason="x"),
        ("productId", "INVALID_ID"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, productId=ids.encode("Product", 0), adjustment=1, reason="x"),
        ("productId", "INVALID_ID"),
    ),
    (
        "transferInventory",
        lambda i: transfer(i, fromWarehouseId="V2FyZWhvdXNlOmFiYw=="),
        ("fromWarehouseId", "INVALID_ID"),
    ),
    ("updateWarehouse", lambda i: {"id": "garbage", "name": "x"}, ("id", "INVALID_ID")),
    ("updateWarehouse", lambda i: {"id": i["product"], "name": "x"}, ("id", "INVALID_ID")),
    ("updateProduct", lambda i: {"id": i["DC-1"], "name": "x"}, ("id", "INVALID_ID")),
    # Both (INVALID) or neither (REQUIRED) of an id and its natural key.
    (
        "adjustInventory",
        lambda i: level(i, sku="SKU-1", adjustment=1, reason="x"),
        ("productId", "INVALID"),
    ),
    (
        "adjustInventory",
        lambda i: {"warehouseCode": "DC-1", "adjustment": 1, "reason": "x"},
        ("productId", "REQUIRED"),
    ),
    # Bad text.
    (
        "adjustInventory",
        lambda i: level(i, adjustment=1, reason="r" * 100_000),
        ("reason", "INVALID"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, adjustment=1, reason="bad\x00byte"),
        ("reason", "INVALID"),
    ),
    (
        "adjustInventory",
        lambda i: level(i, adjustment=1, reason="x", idempotencyKey="k" * 201),
        ("idempotencyKey", "INVALID"),
    ),
    ("createWarehouse", lambda i: {"code": "has spaces", "name": "x"}, ("code", "INVALID")),
    ("createWarehouse", lambda i: {"code": "DC-1", "name": "Again"}, ("code", "ALREADY_EXISTS")),
    ("createProduct", lambda i: {"sku": "S" * 129, "name": "x"}, ("sku", "INVALID")),
    ("createProduct", lambda i: {"sku": "NUL\x00", "name": "x"}, ("sku", "INVALID")),
    ("createProduct", lambda i: {"sku": "LONE\ud800", "name": "x"}, ("sku", "INVALID")),
    ("createProduct", lambda i: {"sku": "OK-2", "name": "half \udc00"}, ("name", "INVALID")),
    (
        "adjustInventory",
        lambda i: level(i, adjustment=1, reason="lone \ud800 surrogate"),
        ("reason", "INVALID"),
    ),
    (
        "createWarehouse",
        lambda i: {"code": "TZ-1", "name": "x", "timezone": "Europe/" + "x" * 1_000_000},
        ("timezone", "INVALID"),
    ),
    (
        "createReservation",
        lambda i: {
            "sku": "SKU-1",
            "warehouseCode": "DC-1",
            "quantity": 1,
            "type": "CART",
            "referenceId": "cart-far",
            "expiresAt": "9999-12-31T00:00:00Z",
        },
        ("expiresAt", "INVALID"),
    ),
    (
        "upsertProducts",
        lambda i: {"products": [{"sku": "OK", "name": "ok"}, {"sku": "", "name": "x"}]},
        ("products.1.sku", "INVALID"),
    ),
]


@pytest.mark.parametrize(
    ("field", "make_input", "expected"),
    [pytest.param(*case, id=f"{n}-{case[0]}-{case[2][1]}") for n, case in enumerate(MUTATIONS)],
)
async def test_bad_mutation_input_is_a_user_error_and_changes_nothing(
    admin: Client,
    engine: AsyncEngine,
    world: Ids,
    field: str,
    make_input: Callable[[Ids], dict[str, Any]],
    expected: tuple[str, str],
) -> None:
    before = await snapshot(engine)
    body = await admin.raw(mutation(field), {"input": make_input(world)})
    assert "errors" not in body, body
    errors = body["data"][field]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [expected]
    assert all(e["message"] for e in errors)
    assert leaks([e["message"] for e in errors]) == []
    assert await snapshot(engine) == before
    await still_serving(admin)


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        pytest.param(
            mutation("adjustInventory"),
            {
                "input": {
                    "sku": "SKU-1",
                    "warehouseCode": "DC-1",
                    "adjustment": 2**31,
                    "reason": "x",
                }
            },
            "BAD_USER_INPUT",
            id="variable-above-int",
        ),
        pytest.param(
            mutation("transferInventory"),
            {
                "input": {
                    "sku": "SKU-1",
                    "fromWarehouseCode": "DC-1",
                    "toWarehouseCode": "DC-2",
                    "quantity": -(2**40),
                }
            },
            "BAD_USER_INPUT",
            id="variable-below-int",
        ),
        pytest.param(
            mutation("adjustInventory"),
            {
                "input": {
                    "sku": "SKU-1",
                    "warehouseCode": "DC-1",
                    "adjustment": "ten",
                    "reason": "x",
                }
            },
            "BAD_USER_INPUT",
            id="variable-not-a-number",
        ),
        pytest.param(
            mutation("adjustInventory"),
            {"input": {"sku": "SKU-1", "warehouseCode": "DC-1", "reason": "x"}},
            "BAD_USER_INPUT",
            id="variable-missing-required",
        ),
        pytest.param(
            'mutation { adjustInventory(input: {sku: "SKU-1", warehouseCode: "DC-1",'
            ' adjustment: 3000000000, reason: "x"}) { errors { code } } }',
            None,
            "GRAPHQL_VALIDATION_FAILED",
            id="literal-above-int",
        ),
        pytest.param(
            mutation("adjustInventory"),
            {
                "input": {
                    "sku": "SKU-1",
                    "warehouseCode": "DC-1",
                    "adjustment": 1,
                    "reason": "x",
                    "idempotencyKey": "k\x00",
                }
            },
            "BAD_USER_INPUT",
            id="nul-in-a-key",
        ),
        pytest.param(
            mutation("adjustInventory"),
            {"input": {"sku": "SKU\x00", "warehouseCode": "DC-1", "adjustment": 1, "reason": "x"}},
            "BAD_USER_INPUT",
            id="nul-in-a-sku",
        ),
    ],
)
async def test_mutation_input_graphql_refuses_is_a_coded_error_and_changes_nothing(
    admin: Client,
    engine: AsyncEngine,
    world: Ids,
    document: str,
    variables: dict[str, Any] | None,
    code: str,
) -> None:
    before = await snapshot(engine)
    body = await admin.raw(document, variables)
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["message"] != "Unexpected error."
    assert await snapshot(engine) == before
    await still_serving(admin)


def cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def deep_query(cycles: int) -> str:
    """product -> its levels -> their warehouse -> its levels -> their product -> ..., each
    cycle four fields deeper."""
    inner = "sku"
    for _ in range(cycles):
        levels = f"inventoryLevels {{ nodes {{ product {{ {inner} }} }} }}"
        inner = f"inventoryLevels {{ warehouse {{ {levels} }} }}"
    return f'{{ product(sku: "SKU-1") {{ {inner} }} }}'


QUERIES: list[Any] = [
    # Malformed ids.
    ("query($id: ID!) { warehouse(id: $id) { id } }", {"id": "garbage"}, "INVALID_ID"),
    ("query($id: ID!) { warehouse(id: $id) { id } }", {"id": "@@product"}, "INVALID_ID"),
    ("query($id: ID!) { product(id: $id) { id } }", {"id": ""}, "INVALID_ID"),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": "garbage"}, "INVALID_ID"),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": cursor("Warehouse:abc")}, "INVALID_ID"),
    (
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": cursor("Product:1" + "0" * 30)},
        "INVALID_ID",
    ),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": cursor("Nope:1")}, "INVALID_ID"),
    # Every node type refuses out-of-range and non-numeric ids the same way.
    *(
        ("query($id: ID!) { node(id: $id) { id } }", {"id": cursor(f"{kind}:{raw}")}, "INVALID_ID")
        for kind in (
            "Reservation",
            "Channel",
            "ImportJob",
            "SourceEvent",
            "TransferOrder",
            "Alert",
            "Webhook",
            "WebhookDelivery",
        )
        for raw in ("1" + "0" * 30, "x1")
    ),
    (
        'query($p: ID!) { inventoryLevel(productId: $p, warehouseCode: "DC-1") { id } }',
        {"p": "garbage"},
        "INVALID_ID",
    ),
    (
        "query($w: ID!) { inventoryLevels(warehouseId: $w) { totalCount } }",
        {"w": "@@product"},
        "INVALID_ID",
    ),
    (
        "query($p: ID!) { inventoryMovements(filter: {productId: $p}) { totalCount } }",
        {"p": "garbage"},
        "INVALID_ID",
    ),
    # Huge or impossible pages.
    ("{ warehouses(first: 100000) { totalCount } }", None, "BAD_USER_INPUT"),
    ("{ products(first: 0) { totalCount } }", None, "BAD_USER_INPUT"),
    ("{ products(first: -1) { totalCount } }", None, "BAD_USER_INPUT"),
    ("{ inventoryLevels(first: 251) { totalCount } }", None, "BAD_USER_INPUT"),
    (
        "query($n: Int) { inventoryMovements(first: $n) { totalCount } }",
        {"n": 2**31},
        "BAD_USER_INPUT",
    ),
    # Bad cursors.
    ('{ inventoryMovements(after: "bad") { totalCount } }', None, "BAD_USER_INPUT"),
    (
        "query($a: String) { products(after: $a) { totalCount } }",
        {"a": cursor("hello")},
        "BAD_USER_INPUT",
    ),
    (
        "query($a: String) { products(after: $a) { totalCount } }",
        {"a": cursor("cursor:abc")},
        "BAD_USER_INPUT",
    ),
    (
        "query($a: String) { warehouses(after: $a) { totalCount } }",
        {"a": cursor("cursor:" + "9" * 40)},
        "BAD_USER_INPUT",
    ),
    # Text the database cannot hold.
    ("query($s: String!) { product(sku: $s) { id } }", {"s": "\ud800"}, "BAD_USER_INPUT"),
    # Numbers out of range.
    (
        "query($a: Long!) { inventoryChanges(after: $a, first: 1) { hasMore } }",
        {"a": 9223372036854775808},
        "BAD_USER_INPUT",
    ),
    (
        "{ inventoryChanges(after: 9223372036854775808, first: 1) { hasMore } }",
        None,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        'query($a: ShippingAddressInput!) { fulfillmentPlan(input: {lines: [{sku: "SKU-1",'
        " quantity: 1}], shippingAddress: $a}) { __typename } }",
        {"a": {"latitude": 1000, "longitude": 0}},
        "INVALID",
    ),
    ("query($s: String) { products(search: $s) { totalCount } }", {"s": "a\x00"}, "BAD_USER_INPUT"),
    ("query($c: String!) { warehouse(code: $c) { id } }", {"c": "\x00"}, "BAD_USER_INPUT"),
    # Documents too deep or too wide.
    (deep_query(3), None, "GRAPHQL_VALIDATION_FAILED"),
    (
        "{ " + " ".join(f"a{n}: viewer {{ name }}" for n in range(40)) + " }",
        None,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    ("{ warehouses { nope } }", None, "GRAPHQL_VALIDATION_FAILED"),
]


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [pytest.param(*case, id=f"{n}-{case[2]}") for n, case in enumerate(QUERIES)],
)
async def test_bad_queries_are_coded_graphql_errors(
    admin: Client,
    engine: AsyncEngine,
    world: Ids,
    document: str,
    variables: dict[str, Any] | None,
    code: str,
) -> None:
    # `@@product` stands for the product's id where a warehouse's is expected.
    if variables:
        variables = {k: world["product"] if v == "@@product" else v for k, v in variables.items()}
    before = await snapshot(engine)
    body = await admin.raw(document, variables)
    assert body["errors"], body
    assert {e.get("extensions", {}).get("code") for e in body["errors"]} == {code}, body
    assert all(e["message"] != "Unexpected error." for e in body["errors"])
    assert leaks([e["message"] for e in body["errors"]]) == []
    assert await snapshot(engine) == before
    await still_serving(admin)


async def test_the_deep_query_is_refused_for_its_depth_alone(admin: Client, world: Ids) -> None:
    shallow = await admin(deep_query(2))
    assert shallow["product"]["inventoryLevels"][0]["warehouse"]["inventoryLevels"]["nodes"]
    body = await admin.raw(deep_query(3))
    assert "depth" in body["errors"][0]["message"]


async def test_a_document_with_too_many_tokens_is_refused(admin: Client, world: Ids) -> None:
    document = "{ " + " ".join(f"a{n}: viewer {{ name }}" for n in range(29)) * 30 + " }"
    body = await admin.raw(document)
    assert body.get("data") is None
    [error] = body["errors"]
    assert "tokens" in error["message"]
    await still_serving(admin)


async def test_unknown_names_in_queries_find_nothing(admin: Client, world: Ids) -> None:
    data = await admin(
        """query($delivery: ID!) {
          warehouse(code: "NOPE") { id }
          product(sku: "NOPE") { id }
          inventoryLevel(sku: "NOPE", warehouseCode: "DC-1") { id }
          inventorySummary(sku: "NOPE") { quantity }
          inventoryLevels(sku: "NOPE") { totalCount }
          inventoryMovements(filter: {warehouseCode: "NOPE"}) { totalCount }
          delivery: node(id: $delivery) { id }
        }""",
        {"delivery": cursor("WebhookDelivery:1")},
    )
    assert data == {
        "warehouse": None,
        "product": None,
        "inventoryLevel": None,
        "inventorySummary": None,
        "inventoryLevels": {"totalCount": 0},
        "inventoryMovements": {"totalCount": 0},
        "delivery": None,
    }


async def test_a_change_beyond_the_database_range_is_refused(
    admin: Client, engine: AsyncEngine, world: Ids
) -> None:
    """Each movement is within range, but the level would pass 2,147,483,647."""
    set_level = mutation("setInventoryLevel")
    adjust = mutation("adjustInventory")
    await admin.mutate("setInventoryLevel", set_level, {"input": level(world, quantity=10**9)})
    up = {"input": level(world, adjustment=10**9, reason="RECEIPT")}
    await admin.mutate("adjustInventory", adjust, up)
    before = await snapshot(engine)
    payload = (await admin(adjust, up))["adjustInventory"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("adjustment", "QUANTITY_OUT_OF_RANGE")
    ]
    # A transfer into the full level too, from a level with enough to send.
    await admin.mutate(
        "createInventoryLevel",
        mutation("createInventoryLevel"),
        {"input": {"productId": world["product"], "warehouseId": world["DC-2"], "quantity": 10**9}},
    )
    before = await snapshot(engine)
    moved = (
        await admin(
            mutation("transferInventory"),
            {
                "input": transfer(
                    world,
                    fromWarehouseId=world["DC-2"],
                    toWarehouseId=world["DC-1"],
                    quantity=10**9,
                )
            },
        )
    )["transferInventory"]
    assert [e["code"] for e in moved["errors"]] == ["QUANTITY_OUT_OF_RANGE"]
    assert await snapshot(engine) == before
    level_now = await admin(
        'query { inventoryLevel(sku: "SKU-1", warehouseCode: "DC-1") { quantity } }'
    )
    assert level_now["inventoryLevel"]["quantity"] == 2 * 10**9


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b"{not json", {"content-type": "application/json"}, id="not-json"),
        pytest.param(b'{"query": 5}', {"content-type": "application/json"}, id="query-not-text"),
        pytest.param(
            b'{"query": "{ viewer { name } }", "variables": "x"}',
            {"content-type": "application/json"},
            id="variables-not-object",
        ),
        pytest.param(b"[1, 2]", {"content-type": "application/json"}, id="a-batch"),
        pytest.param(b"{}", {"content-type": "application/json"}, id="no-query"),
        pytest.param(b"\xff\xfe\x00", {"content-type": "application/json"}, id="binary"),
        pytest.param(b"query=1", {"content-type": "text/plain"}, id="wrong-type"),
    ],
)
async def test_malformed_requests_are_refused_not_crashed_on(
    admin: Client, http: httpx.AsyncClient, world: Ids, body: bytes, headers: dict[str, str]
) -> None:
    response = await http.post("/graphql", content=body, headers={**admin.headers, **headers})
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    await still_serving(admin)


async def test_a_mutation_over_get_is_refused(
    admin: Client, http: httpx.AsyncClient, engine: AsyncEngine, world: Ids
) -> None:
    before = await snapshot(engine)
    query = 'mutation M { createProduct(input: {sku: "G", name: "g"}) { errors { code } } }'
    response = await http.get(
        "/graphql", params={"query": query, "operationName": "M"}, headers=admin.headers
    )
    assert 400 <= response.status_code < 500
    assert await snapshot(engine) == before


async def test_a_burst_of_bad_requests_leaves_the_server_and_stock_intact(
    admin: Client, engine: AsyncEngine, world: Ids
) -> None:
    before = await snapshot(engine)
    requests = [
        admin.raw(mutation(field), {"input": make_input(world)})
        for field, make_input, _ in MUTATIONS
    ]
    requests += [
        admin.raw(document, variables)
        for document, variables, _ in QUERIES
        if "@@" not in str(variables)
    ]
    answers = await asyncio.gather(*requests)
    for answer in answers:
        refused = answer.get("errors") or [
            e for payload in (answer.get("data") or {}).values() for e in payload["errors"]
        ]
        assert refused, answer
    assert await snapshot(engine) == before
    await still_serving(admin)


async def test_client_errors_are_not_logged_and_documents_never_reach_the_log(
    admin: Client, world: Ids, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad document, a bad id or a refused value is the client's business: nothing is
    logged as an error, and a secret written inline in a document never reaches the log."""
    with caplog.at_level(logging.DEBUG):
        await admin.raw('{ warehouses(search: "SECRET-INLINE-1") { nope } }')
        await admin.raw('{ node(id: "SECRET-INLINE-2") { id } }')
        await admin.raw(
            mutation("adjustInventory"),
            {"input": level(world, adjustment=1, reason="x", idempotencyKey="SECRET\x00-3")},
        )
        await still_serving(admin)
    logged = [record.getMessage() + str(record.exc_info or "") for record in caplog.records]
    assert not [line for line in logged if "SECRET" in line]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
