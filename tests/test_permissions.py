"""The permission matrix: every role, and every kind of missing or bad credential, against
every query and mutation.

Which role may do what comes from GRANTS (auth/roles.py); the table below only says which
permission each operation needs, with the calls that show an allowed one really acting (its
ledger rows' actor) and a refused one changing nothing. test_permission_sweep.py holds every
root field of the schema to its permission, roles and connectors included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.schema import build_schema
from onhand.auth.roles import GRANTS, Permission, Role
from onhand.auth.tokens import create_token, revoke_token
from onhand.config import Settings
from support import factories
from support.client import Client
from support.server import running_server

# The tables a change could touch. The outbox is compared by id only: the relay stamps
# sequences on rows after commit, whatever the request under test does.
STATE = {
    "warehouses": "t::text",
    "products": "t::text",
    "inventory_levels": "t::text",
    "inventory_movements": "t::text",
    "idempotency_keys": "t::text",
    # Alerts are raised in the background about earlier changes (the test data's own low
    # stock, say), whenever the evaluator gets to them: not something a request changed.
    "(SELECT id FROM outbox WHERE topic NOT IN ('ALERT_RAISED', 'ALERT_RESOLVED'))": "t.id::text",
}

Ids = dict[str, Any]  # global ids by role in the test data, and the level's version
Variables = Callable[[Ids], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    field: str  # the Query or Mutation field under test
    permission: Permission | None  # None: any valid token may
    document: str
    variables: Variables
    writes_ledger: bool = False  # an allowed call writes ledger rows (their actor is checked)
    name: str = ""  # tells apart rows for one field (node on different types)

    @property
    def mutation(self) -> bool:
        return self.document.lstrip().startswith("mutation")

    @property
    def id(self) -> str:
        return self.name or self.field


ERRORS = "errors { field message code }"
CONNECTION = "totalCount nodes { id }"


def mutation(field: str, input_type: str, selection: str) -> str:
    return (
        f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ {selection} {ERRORS} }} }}"
    )


def level_ref(ids: Ids) -> dict[str, Any]:
    return {"productId": ids["product"], "warehouseId": ids["warehouse"]}


def no_variables(ids: Ids) -> dict[str, Any]:
    return {}


NODE = "query($id: ID!) { node(id: $id) { id } }"

OPERATIONS: tuple[Operation, ...] = (
    # Queries.
    Operation("viewer", None, "{ viewer { name role } }", lambda ids: {}),
    Operation(
        "warehouse",
        Permission.READ_CATALOG,
        "query($id: ID!) { warehouse(id: $id) { id code } }",
        lambda ids: {"id": ids["warehouse"]},
    ),
    Operation(
        "warehouses", Permission.READ_CATALOG, f"{{ warehouses {{ {CONNECTION} }} }}", no_variables
    ),
    Operation(
        "product",
        Permission.READ_CATALOG,
        "query($sku: String!) { product(sku: $sku) { id sku } }",
        lambda ids: {"sku": "SKU-P"},
    ),
    Operation("products", Permission.READ_CATALOG, f"{{ products {{ {CONNECTION} }} }}", dict),
    Operation(
        "inventoryLevel",
        Permission.READ_STOCK,
        "query($p: ID!, $w: ID!) { inventoryLevel(productId: $p, warehouseId: $w) { id } }",
        lambda ids: {"p": ids["product"], "w": ids["warehouse"]},
    ),
    Operation(
        "inventoryLevels",
        Permission.READ_STOCK,
        f"{{ inventoryLevels {{ {CONNECTION} }} }}",
        no_variables,
    ),
    Operation(
        "inventorySummary",
        Permission.READ_STOCK,
        "query($p: ID!) { inventorySummary(productId: $p) { quantity available } }",
        lambda ids: {"p": ids["product"]},
    ),
    Operation(
        "inventoryMovements",
        Permission.READ_AUDIT,
        f"{{ inventoryMovements {{ {CONNECTION} }} }}",
        no_variables,
    ),
    Operation(
        "product",
        Permission.READ_STOCK,
        "query($p: ID!) { product(id: $p) { inventoryLevels(minAvailable: 1) { id } } }",
        lambda ids: {"p": ids["product"]},
        name="product-where-available",
    ),
    Operation(
        "productSalesByChannel",
        Permission.READ_AUDIT,
        "query($p: ID!) { productSalesByChannel(productId: $p, period: LAST_30_DAYS) {"
        " quantity } }",
        lambda ids: {"p": ids["product"]},
    ),
    Operation(
        "channelsWithExcess",
        Permission.MANAGE_ALLOCATIONS,
        "{ channelsWithExcess(thresholdDays: 30) { excessQuantity } }",
        no_variables,
    ),
    Operation(
        "node", Permission.READ_CATALOG, NODE, lambda ids: {"id": ids["warehouse"]}, name="node-w"
    ),
    Operation(
        "node", Permission.READ_CATALOG, NODE, lambda ids: {"id": ids["product"]}, name="node-p"
    ),
    Operation("node", Permission.READ_STOCK, NODE, lambda ids: {"id": ids["level"]}, name="node-l"),
    Operation(
        "node", Permission.READ_AUDIT, NODE, lambda ids: {"id": ids["movement"]}, name="node-m"
    ),
    # Mutations.
    Operation(
        "createWarehouse",
        Permission.MANAGE_WAREHOUSES,
        mutation("createWarehouse", "CreateWarehouseInput", "warehouse { id }"),
        lambda ids: {"input": {"code": "DC-NEW", "name": "New"}},
    ),
    Operation(
        "updateWarehouse",
        Permission.MANAGE_WAREHOUSES,
        mutation("updateWarehouse", "UpdateWarehouseInput", "warehouse { id }"),
        lambda ids: {"input": {"id": ids["warehouse"], "name": "Renamed"}},
    ),
    Operation(
        "createProduct",
        Permission.MANAGE_PRODUCTS,
        mutation("createProduct", "CreateProductInput", "product { id }"),
        lambda ids: {"input": {"sku": "SKU-NEW", "name": "New"}},
    ),
    Operation(
        "updateProduct",
        Permission.MANAGE_PRODUCTS,
        mutation("updateProduct", "UpdateProductInput", "product { id }"),
        lambda ids: {"input": {"id": ids["product"], "name": "Renamed"}},
    ),
    Operation(
        "upsertProducts",
        Permission.MANAGE_PRODUCTS,
        mutation("upsertProducts", "UpsertProductsInput", "createdCount updatedCount"),
        lambda ids: {
            "input": {"products": [{"sku": "SKU-P", "name": "Renamed"}, {"sku": "N", "name": "N"}]}
        },
    ),
    Operation(
        "createInventoryLevel",
        Permission.MANAGE_STOCK,
        mutation("createInventoryLevel", "CreateInventoryLevelInput", "inventoryLevel { id }"),
        lambda ids: {
            "input": {"productId": ids["spare"], "warehouseId": ids["warehouse"], "quantity": 7}
        },
        writes_ledger=True,
    ),
    Operation(
        "setInventoryLevel",
        Permission.MANAGE_STOCK,
        mutation("setInventoryLevel", "SetInventoryLevelInput", "inventoryLevel { id }"),
        lambda ids: {
            "input": {**level_ref(ids), "quantity": 42, "expectedVersion": ids["version"]}
        },
        writes_ledger=True,
    ),
    Operation(
        "adjustInventory",
        Permission.MANAGE_STOCK,
        mutation("adjustInventory", "AdjustInventoryInput", "inventoryLevel { id }"),
        lambda ids: {
            "input": {**level_ref(ids), "adjustment": -3, "reason": "SALE", "idempotencyKey": "k1"}
        },
        writes_ledger=True,
    ),
    Operation(
        "transferInventory",
        Permission.MANAGE_STOCK,
        mutation("transferInventory", "TransferInventoryInput", "movements { id }"),
        lambda ids: {
            "input": {
                "productId": ids["product"],
                "fromWarehouseId": ids["warehouse"],
                "toWarehouseId": ids["other"],
                "quantity": 4,
            }
        },
        writes_ledger=True,
    ),
    Operation(
        "createInventoryAuditLog",
        Permission.MANAGE_STOCK,
        mutation("createInventoryAuditLog", "CreateInventoryAuditLogInput", "movement { id }"),
        lambda ids: {"input": {**level_ref(ids), "reason": "shelf checked"}},
        writes_ledger=True,
    ),
)

FOUNDATION = {
    *("viewer", "node", "warehouse", "warehouses", "product", "products", "inventoryLevel"),
    *("inventoryLevels", "inventorySummary", "inventoryMovements", "createWarehouse"),
    *("updateWarehouse", "createProduct", "updateProduct", "upsertProducts"),
    *("createInventoryLevel", "setInventoryLevel", "adjustInventory", "transferInventory"),
}
ROLES = (Role.ADMIN, Role.OPERATOR, Role.STOREFRONT)
BAD_CREDENTIALS = ("none", "unknown", "malformed", "revoked")

CREATE_LEVEL = mutation(
    "createInventoryLevel",
    "CreateInventoryLevelInput",
    "inventoryLevel { id version } movement { id }",
)


async def world(admin: Client) -> Ids:
    """Two warehouses, a product stocked at both, a product stocked nowhere: global ids."""
    ids = {
        "warehouse": (await factories.warehouse(admin, "DC-A"))["id"],
        "other": (await factories.warehouse(admin, "DC-B"))["id"],
        "product": (await factories.product(admin, "SKU-P"))["id"],
        "spare": (await factories.product(admin, "SKU-S"))["id"],
    }
    made = await admin.mutate(
        "createInventoryLevel",
        CREATE_LEVEL,
        {"input": {**level_ref(ids), "quantity": 50}},
    )
    ids["level"] = made["inventoryLevel"]["id"]
    ids["version"] = made["inventoryLevel"]["version"]
    ids["movement"] = made["movement"]["id"]
    await factories.level(admin, ids["product"], ids["other"], 10)
    return ids


async def fingerprint(engine: AsyncEngine) -> dict[str, str]:
    """A digest of every row a change could touch, per table."""
    digests = {}
    async with engine.connect() as conn:
        for table, row in STATE.items():
            digest = f"md5(coalesce(string_agg({row}, '|' ORDER BY {row}), ''))"
            found = await conn.execute(text(f"SELECT {digest} FROM {table} t"))
            digests[table] = found.scalar_one()
    return digests


async def last_movement_id(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT coalesce(max(id), 0) FROM inventory_movements"))
        return int(found.scalar_one())


async def actors_since(engine: AsyncEngine, movement_id: int) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT actor FROM inventory_movements WHERE id > :id ORDER BY id"),
            {"id": movement_id},
        )
        return [row.actor for row in rows]


def allowed(role: Role, operation: Operation) -> bool:
    return operation.permission is None or operation.permission in GRANTS[role]


VERDICT = {True: "allowed", False: "denied"}


def cases() -> list[Any]:
    return [
        pytest.param(
            role,
            operation,
            id=f"{operation.id}-{role.lower()}-{VERDICT[allowed(role, operation)]}",
        )
        for operation in OPERATIONS
        for role in ROLES
    ]


@pytest.mark.parametrize(("role", "operation"), cases())
async def test_role_against_operation(
    role: Role,
    operation: Operation,
    admin: Client,
    http: httpx.AsyncClient,
    tokens: dict[Role, str],
    engine: AsyncEngine,
) -> None:
    ids = await world(admin)
    client = Client(http, tokens[role])
    viewer = (await client("{ viewer { name role } }"))["viewer"]
    assert viewer["role"] == role
    before, last = await fingerprint(engine), await last_movement_id(engine)

    response = await client.post(operation.document, operation.variables(ids))
    assert response.status_code == 200, response.text
    body = response.json()
    after = await fingerprint(engine)

    if operation.mutation:
        payload = body["data"][operation.field]
        assert "errors" not in body, body
        if allowed(role, operation):
            assert payload["errors"] == [], payload
            assert after != before, "an allowed mutation changed nothing"
            actors = await actors_since(engine, last)
            assert bool(actors) == operation.writes_ledger, actors
            assert set(actors) <= {viewer["name"]}, "the ledger names the token as the actor"
        else:
            assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"], payload
            assert after == before, "a refused mutation changed something"
    else:
        assert after == before
        if allowed(role, operation):
            assert "errors" not in body, body
            assert body["data"][operation.field] is not None
        else:
            codes = [error["extensions"]["code"] for error in body["errors"]]
            assert codes == ["FORBIDDEN"], body
            assert body["data"] is None or body["data"][operation.field] is None


@pytest_asyncio.fixture(scope="session")
async def revoked_token(engine: AsyncEngine) -> str:
    async with engine.begin() as conn:
        secret = (await create_token(conn, "permissions-revoked", Role.ADMIN)).secret
        assert await revoke_token(conn, "permissions-revoked")
    return secret


def authorization(kind: str, revoked: str) -> dict[str, str]:
    return {
        "none": {},
        "unknown": {"Authorization": "Bearer onh_not-a-token-anyone-was-given"},
        "malformed": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "revoked": {"Authorization": f"Bearer {revoked}"},
    }[kind]


@pytest.mark.parametrize("credential", BAD_CREDENTIALS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.id)
async def test_bad_credentials_against_operation(
    credential: str,
    operation: Operation,
    admin: Client,
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    revoked_token: str,
) -> None:
    ids = await world(admin)
    before = await fingerprint(engine)
    response = await http.post(
        "/graphql",
        json={"query": operation.document, "variables": operation.variables(ids)},
        headers=authorization(credential, revoked_token),
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]
    assert await fingerprint(engine) == before


@pytest_asyncio.fixture
async def uncached(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second server on the same database that never caches token lookups."""
    fresh = settings.model_copy(update={"token_cache_seconds": 0})
    with running_server(fresh, database_url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client


async def test_a_token_stops_working_once_revoked(
    uncached: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        secret = (await create_token(conn, "permissions-soon-revoked", Role.OPERATOR)).secret
    client = Client(uncached, secret)
    viewer = (await client("{ viewer { name role } }"))["viewer"]
    assert viewer == {"name": "permissions-soon-revoked", "role": "OPERATOR"}
    async with engine.begin() as conn:
        assert await revoke_token(conn, "permissions-soon-revoked")
    response = await client.post("{ viewer { name } }")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("query", ["query={viewer{name}}", "%71uery={viewer{name}}"])
async def test_a_get_query_needs_a_token_even_from_a_browser(
    http: httpx.AsyncClient, query: str
) -> None:
    """GraphiQL's page is public; a query sent with GET is not, however its name is spelled."""
    response = await http.get(f"/graphql?{query}", headers={"Accept": "text/html"})
    assert response.status_code == 401, response.text


def test_the_matrix_covers_the_foundation() -> None:
    """A guard on the table itself: every foundation operation is in it, each listed field
    exists in the schema, and no row is listed twice."""
    schema = build_schema()._schema
    fields = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    listed = {operation.field for operation in OPERATIONS}
    assert listed >= FOUNDATION, FOUNDATION - listed
    assert listed <= fields, listed - fields
    assert len({operation.id for operation in OPERATIONS}) == len(OPERATIONS)
