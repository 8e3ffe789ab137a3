"""Documents whose cost hides in their fragments: however they nest, repeat or loop, the safety
limits refuse them at once (their check is linear in the document), and the server keeps
answering other requests meanwhile."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from graphql import get_introspection_query

from onhand.auth.roles import Role
from support import factories
from support.client import Client
from support.ws import Subscriber

# A refusal takes milliseconds; before the limits were linear, 20 levels took 15 s.
FAST = 1.0


def doubling_fragments(levels: int, leaf: str, loop: bool = False, root: str = "Query") -> str:
    """F<n> spreads F<n-1> twice: a few hundred bytes that stand for 2**levels copies of
    `leaf`. With `loop`, F0 also spreads the last fragment, which closes a cycle."""
    back = f" ...F{levels}" if loop else ""
    fragments = [f"fragment F0 on {root} {{ {leaf}{back} }}"]
    fragments += [
        f"fragment F{n} on {root} {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels + 1)
    ]
    operation = "" if root == "Query" else root.lower()
    return f"{operation} {{ ...F{levels} }} " + " ".join(fragments)


# Each document, and a word its refusal must name.
BOMBS = {
    "selections-20": (doubling_fragments(20, "warehouses { totalCount }"), "fields"),
    "selections-40": (doubling_fragments(40, "warehouses { totalCount }"), "fields"),
    "aliases-20": (doubling_fragments(20, "a: warehouses { totalCount }"), "aliases"),
    "aliases-40": (doubling_fragments(40, "a: warehouses { totalCount }"), "aliases"),
    "cycle-20": (doubling_fragments(20, "warehouses { totalCount }", loop=True), "cycle"),
    "cycle-aliases-40": (
        doubling_fragments(40, "a: warehouses { totalCount }", loop=True),
        "cycle",
    ),
    "cycle-of-two": (
        "{ ...A } fragment A on Query { ...B ...B } fragment B on Query { viewer { name } ...A }",
        "cycle",
    ),
    # graphql-core checks that fields sharing a name can be merged by comparing them in pairs:
    # a second of work for this document, had its budget not been lowered.
    "repeated-fields": ("{" + " viewer { name }" * 300 + " }", "aborted"),
}


@pytest.mark.parametrize(("document", "named"), BOMBS.values(), ids=BOMBS.keys())
async def test_a_fragment_bomb_is_refused_at_once_while_health_answers(
    admin: Client, http: httpx.AsyncClient, document: str, named: str
) -> None:
    started = time.monotonic()
    health_waits: list[float] = []
    async with asyncio.timeout(10 * FAST):
        refusal = asyncio.create_task(admin.raw(document))
        while not refusal.done():
            asked = time.monotonic()
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            health_waits.append(time.monotonic() - asked)
        body = await refusal
    took = time.monotonic() - started
    assert body.get("data") is None, body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
    assert named in error["message"].lower(), error
    assert took < FAST, f"the refusal took {took:.2f} s"
    assert max(health_waits) < FAST, f"/healthz waited {max(health_waits):.2f} s"


@pytest.mark.parametrize(
    ("document", "named"),
    [
        # 200,000 tokens: seconds to parse, had the socket no token limit.
        ("subscription {" + " a" * 200_000 + " }", "tokens"),
        (doubling_fragments(20, "inventoryUpdated { sequence }", root="Subscription"), "fields"),
        # 2**40 fields: the cost of a subscription is planned before it starts, and planning
        # walks each fragment wherever it is spread. Validated after, this held the server
        # for hours; the limits must refuse it first.
        (doubling_fragments(40, "inventoryUpdated { sequence }", root="Subscription"), "fields"),
    ],
    ids=["tokens", "fragments", "fragments-40"],
)
async def test_a_costly_subscription_is_refused_at_once_over_websocket(
    base_url: str, tokens: dict[Role, str], http: httpx.AsyncClient, document: str, named: str
) -> None:
    async with Subscriber(base_url, tokens[Role.STOREFRONT]) as subscriber:
        started = time.monotonic()
        async with asyncio.timeout(10 * FAST):
            refusal = asyncio.create_task(subscriber.refused(document))
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            errors = await refusal
        took = time.monotonic() - started
    assert named in errors[0]["message"], errors
    assert took < FAST, f"the refusal took {took:.2f} s"


async def test_too_many_fragments_are_refused(admin: Client) -> None:
    fragments = " ".join(f"fragment F{n} on Query {{ viewer {{ name }} }}" for n in range(101))
    spreads = " ".join(f"...F{n}" for n in range(101))
    body = await admin.raw(f"{{ {spreads} }} {fragments}")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "fragments" in body["errors"][0]["message"]


async def test_depth_counts_the_fields_fragments_add(admin: Client) -> None:
    """Each fragment adds four levels; the operation itself is two deep."""

    def document(levels: int) -> str:
        fragments = ["fragment P0 on Product { sku }"]
        fragments += [
            f"fragment P{n} on Product {{ inventoryLevels {{ warehouse {{ inventoryLevels "
            f"{{ nodes {{ product {{ ...P{n - 1} }} }} }} }} }} }}"
            for n in range(1, levels + 1)
        ]
        query = f'{{ product(sku: "DEEP") {{ ...P{levels} }} }}'
        return query + " " + " ".join(fragments)

    await factories.stocked(admin, "DEEP", {"DC-1": 1})
    shallow = await admin(document(2))
    assert shallow["product"]["inventoryLevels"][0]["warehouse"]["inventoryLevels"]["nodes"]
    body = await admin.raw(document(3))
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "depth" in body["errors"][0]["message"]


async def test_fragments_used_many_times_within_the_limits_still_run(admin: Client) -> None:
    await factories.stocked(admin, "FRAG-1", {"DC-1": 3})
    fragments = (
        "fragment Level on InventoryLevel { quantity warehouse { ...Place } }"
        " fragment Place on Warehouse { code name }"
    )
    data = await admin(
        '{ a: product(sku: "FRAG-1") { inventoryLevels { ...Level } }'
        '  b: product(sku: "FRAG-1") { inventoryLevels { ...Level } } } ' + fragments
    )
    assert data["a"] == data["b"]
    assert data["a"]["inventoryLevels"][0]["warehouse"]["code"] == "DC-1"


async def test_graphiqls_introspection_query_passes_the_limits(admin: Client) -> None:
    query = get_introspection_query(
        descriptions=True, specified_by_url=True, input_value_deprecation=True
    )
    data = await admin(query)
    assert data["__schema"]["queryType"]["name"] == "Query"
