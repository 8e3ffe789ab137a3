"""The prepared path (api/prepared.py) answers a POSTed JSON query or mutation exactly as
strawberry's view does: the same status, headers and body, for answers and refusals alike;
whatever it leaves to the view is still answered, by the view."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from strawberry.extensions import MaxAliasesLimiter

from onhand.api.prepared import mirrors
from onhand.api.schema import build_schema
from onhand.auth.roles import Role
from onhand.config import Settings
from support.metrics import sample
from support.server import running_server

PREPARED = "onhand_graphql_prepared_requests_total"
# Differ between two answers for reasons of their own: when, and which request.
UNCOMPARED_HEADERS = {"date", "x-request-id"}

ANSWERS = "application/graphql-response+json"
LEGACY = "application/json"
WAREHOUSE = (
    "mutation($input: CreateWarehouseInput!) { createWarehouse(input: $input)"
    " { warehouse { code name } errors { code field message } } }"
)
RESERVE = (
    "mutation($input: CreateReservationInput!) { createReservation(input: $input)"
    " { reservation { id } errors { code field message } } }"
)
TWO_OPERATIONS = "query A { viewer { name } } query B { viewer { role permissions } }"

# (what it shows, accept, body, taken by the prepared path?)
REQUESTS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("a query", ANSWERS, {"query": "{ viewer { name role } }"}, True),
    ("a named operation of two", ANSWERS, {"query": TWO_OPERATIONS, "operationName": "B"}, True),
    (
        "a mutation answered with a domain error",
        ANSWERS,
        {
            "query": WAREHOUSE,
            "variables": {"input": {"code": "", "name": "x", "latitude": 1, "longitude": 2}},
        },
        True,
    ),
    (
        "a mutation with a bad global id",
        ANSWERS,
        {
            "query": RESERVE,
            "variables": {
                "input": {"productId": "nope", "quantity": 1, "referenceId": "r"},
            },
        },
        True,
    ),
    (
        "a query with a bad global id",
        LEGACY,
        {"query": '{ node(id: "bm9wZQ==") { id } }'},
        True,
    ),
    (
        "variables that do not fit (400)",
        ANSWERS,
        {"query": RESERVE, "variables": {"input": {"quantity": "many"}}},
        True,
    ),
    (
        "variables that do not fit (legacy 200)",
        LEGACY,
        {"query": RESERVE, "variables": {"input": {"quantity": "many"}}},
        True,
    ),
    ("two operations and no name", ANSWERS, {"query": TWO_OPERATIONS}, False),
    ("an unknown operation name", ANSWERS, {"query": TWO_OPERATIONS, "operationName": "C"}, False),
    ("a document that does not parse", ANSWERS, {"query": "{ viewer { name "}, False),
    ("a document that does not validate", LEGACY, {"query": "{ nothing }"}, False),
    ("no query", ANSWERS, {"variables": {}}, False),
    ("a body of another shape", ANSWERS, {"query": "{ viewer { name } }", "more": 1}, False),
    (
        "a subscription over plain JSON",
        ANSWERS,
        {"query": "subscription { inventoryChanges { __typename } }"},
        False,
    ),
]


@pytest.fixture(scope="module")
def unprepared(settings: Settings, database_url: str) -> Iterator[str]:
    """A server of the same database that sends every request through strawberry's view."""
    with running_server(
        settings.model_copy(update={"prepared_requests": False}), database_url
    ) as url:
        yield url


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted(
        (name, value) for name, value in response.headers.items() if name not in UNCOMPARED_HEADERS
    )
    # Each server has its own cost buckets, spent by different requests before.
    body = re.sub(rb'"currentlyAvailable":\d+', b'"currentlyAvailable":0', response.content)
    return response.status_code, headers, body


@pytest.mark.parametrize(
    ("shows", "accept", "body", "prepared"), REQUESTS, ids=[r[0] for r in REQUESTS]
)
async def test_the_prepared_path_answers_byte_for_byte_as_the_view(
    base_url: str,
    unprepared: str,
    tokens: dict[Role, str],
    shows: str,
    accept: str,
    body: dict[str, Any],
    prepared: bool,
) -> None:
    headers = {
        "Authorization": f"Bearer {tokens[Role.ADMIN]}",
        "Content-Type": "application/json",
        "Accept": accept,
    }
    content = json.dumps(body)
    async with (
        httpx.AsyncClient(base_url=base_url) as http,
        httpx.AsyncClient(base_url=unprepared) as view,
    ):
        before = sample((await http.get("/metrics")).text, PREPARED)
        # Twice each: the first request of a document prepares it, the second finds it.
        answers = [await http.post("/graphql", content=content, headers=headers) for _ in "12"]
        taken = sample((await http.get("/metrics")).text, PREPARED) - before
        expected = await view.post("/graphql", content=content, headers=headers)
    assert taken == (2 if prepared else 0), shows
    for answer in answers:
        assert comparable(answer) == comparable(expected), shows
    if prepared and accept == ANSWERS and "errors" not in answer.json():
        assert answer.json()["extensions"]["cost"]["requestedQueryCost"] >= 1


async def test_a_multipart_upload_is_left_to_the_view(
    base_url: str, tokens: dict[Role, str]
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        before = sample((await http.get("/metrics")).text, PREPARED)
        operations = {"query": "{ viewer { name } }", "variables": {}}
        answer = await http.post(
            "/graphql",
            headers={"Authorization": f"Bearer {tokens[Role.ADMIN]}"},
            data={"operations": json.dumps(operations), "map": "{}"},
            files={"unused": ("a.txt", b"a")},
        )
        after = sample((await http.get("/metrics")).text, PREPARED)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["viewer"]["name"]
    assert after == before


def test_a_schema_with_an_extension_the_path_does_not_run_is_left_to_the_view(
    settings: Settings,
) -> None:
    schema = build_schema(settings)
    assert mirrors(schema)
    schema.extensions = [*schema.extensions, MaxAliasesLimiter(max_alias_count=5)]
    assert not mirrors(schema)
