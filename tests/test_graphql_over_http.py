"""GraphQL over HTTP as its spec says: the spec's own audit (npm graphql-http) passes whole,
MUSTs, SHOULDs and MAYs; application/graphql-response+json answers a request refused before
its operation ran with 400 and no `data`, while application/json, the legacy type and the
default, answers such documents 200 as it always has."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from onhand.api.media_types import GRAPHQL_RESPONSE_JSON, JSON, negotiate
from onhand.auth.roles import Role
from support import graphql_http_audit
from support.client import Client

LEGACY_ACCEPTS = {"no-accept": None, "json": "application/json", "anything": "*/*"}


async def test_the_graphql_over_http_audit_passes_whole(
    base_url: str, tokens: dict[Role, str]
) -> None:
    try:
        package = await asyncio.to_thread(graphql_http_audit.install)
    except graphql_http_audit.AuditUnavailableError as error:
        pytest.skip(str(error))
    results = await asyncio.to_thread(
        graphql_http_audit.audit, package, f"{base_url}/graphql", tokens[Role.STOREFRONT]
    )
    failed = [result for result in results if result["status"] != "ok"]
    assert len(results) >= 61, results  # graphql-http 1.23.1 has 61 audits
    assert failed == [], "\n".join(
        f"{r['name']} ({r['id']}): {r['reason']}: {r['httpStatus']} {r['contentType']} "
        f"{r.get('body', '')}"
        for r in failed
    )


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("text/html", JSON),  # nothing /graphql speaks: the spec allows answering in JSON
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, application/json", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, */*", JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, text/event-stream, multipart/mixed", GRAPHQL_RESPONSE_JSON),
    ],
)
def test_the_media_type_is_the_one_the_client_prefers(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


def post(admin: Client, http: httpx.AsyncClient, body: Any, accept: str | None) -> Any:
    headers = {**admin.headers, "Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/graphql", content=content, headers=headers)


def is_graphql_response_json(response: httpx.Response) -> bool:
    return response.headers["content-type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"


# Requests whose operation never runs: the document or the variables are at fault, onhand's
# own safety limits included. Each with the code of its errors (None: not checked here).
NEVER_RUN = {
    "syntax": ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
    "two-operations-no-name": (
        {"query": "query A { viewer { name } } query B { viewer { role } }"},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "unknown-field": ({"query": "{ viewer { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
    "too-many-aliases": (
        {"query": "{ " + " ".join(f"a{n}: viewer {{ name }}" for n in range(31)) + " }"},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "too-many-tokens": (
        {"query": "{ " + " ".join(f"a{n}: viewer {{ name }}" for n in range(29)) * 30 + " }"},
        None,
    ),
    "fragment-cycle": (
        {"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "variable-null": (
        {"query": "query Q($id: ID!) { node(id: $id) { id } }", "variables": {"id": None}},
        "BAD_USER_INPUT",
    ),
    "variable-type": (
        {
            "query": "query Q($n: Int) { warehouses(first: $n) { totalCount } }",
            "variables": {"n": "x"},
        },
        "BAD_USER_INPUT",
    ),
}


@pytest.mark.parametrize(("body", "code"), NEVER_RUN.values(), ids=NEVER_RUN.keys())
async def test_a_request_refused_before_running_is_a_400_without_data(
    admin: Client, http: httpx.AsyncClient, body: dict[str, Any], code: str | None
) -> None:
    response = await post(admin, http, body, GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 400, response.text
    assert is_graphql_response_json(response), response.headers
    answer = response.json()
    assert "data" not in answer, answer
    assert answer["errors"], answer
    if code:
        assert {e.get("extensions", {}).get("code") for e in answer["errors"]} == {code}, answer


@pytest.mark.parametrize("accept", LEGACY_ACCEPTS.values(), ids=LEGACY_ACCEPTS.keys())
@pytest.mark.parametrize(("body", "code"), NEVER_RUN.values(), ids=NEVER_RUN.keys())
async def test_legacy_json_clients_still_get_200_with_null_data(
    admin: Client,
    http: httpx.AsyncClient,
    body: dict[str, Any],
    code: str | None,
    accept: str | None,
) -> None:
    response = await post(admin, http, body, accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["data"] is None, answer
    assert answer["errors"], answer
    if code:
        assert {e.get("extensions", {}).get("code") for e in answer["errors"]} == {code}, answer


async def test_an_operation_that_ran_is_200_with_its_data_and_errors(
    admin: Client, http: httpx.AsyncClient
) -> None:
    response = await post(
        admin, http, {"query": '{ viewer { name } node(id: "nope") { id } }'}, GRAPHQL_RESPONSE_JSON
    )
    assert response.status_code == 200, response.text
    assert is_graphql_response_json(response)
    answer = response.json()
    assert answer["data"] == {"viewer": {"name": "test-admin"}, "node": None}
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["INVALID_ID"]


# Requests that are no GraphQL request at all, or name no operation their document holds.
MALFORMED = {
    "not-json": b'{"query": ',
    "no-query": {"variables": {}},
    "query-not-text": {"query": 5},
    "variables-not-object": {"query": "{ viewer { name } }", "variables": "x"},
    "unknown-operation": {"query": "query A { viewer { name } }", "operationName": "B"},
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_request_is_a_400_in_the_media_type_asked_for(
    admin: Client, http: httpx.AsyncClient, body: Any
) -> None:
    response = await post(admin, http, body, GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 400, response.text
    assert is_graphql_response_json(response), response.headers
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert "data" not in response.json()

    legacy = await post(admin, http, body, "application/json")
    assert legacy.status_code == 400, legacy.text
    assert legacy.headers["content-type"].startswith("text/plain")
    assert legacy.text == error["message"]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE_JSON, "application/json"])
async def test_a_mutation_over_get_is_405_and_runs_nowhere(
    admin: Client, http: httpx.AsyncClient, accept: str
) -> None:
    query = 'mutation M { createProduct(input: {sku: "GET-1", name: "g"}) { errors { code } } }'
    response = await http.get(
        "/graphql", params={"query": query}, headers={**admin.headers, "Accept": accept}
    )
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    found = await admin('{ products(first: 1, search: "GET-1") { totalCount } }')
    assert found["products"]["totalCount"] == 0


async def test_a_query_over_get_answers_in_the_media_type_asked_for(
    admin: Client, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        "/graphql",
        params={"query": "{ viewer { name } }"},
        headers={**admin.headers, "Accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 200, response.text
    assert is_graphql_response_json(response)
    body = response.json()
    assert body["data"] == {"viewer": {"name": "test-admin"}}
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1  # the viewer object


async def test_a_request_without_a_token_is_401_in_the_media_type_asked_for(
    http: httpx.AsyncClient,
) -> None:
    body = json.dumps({"query": "{ viewer { name } }"})
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Accept": GRAPHQL_RESPONSE_JSON},
    )
    assert response.status_code == 401
    assert is_graphql_response_json(response)
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    legacy = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert legacy.status_code == 401
    assert legacy.headers["content-type"] == "application/json"


async def test_the_parsers_own_limits_are_said_in_the_clients_terms(
    admin: Client, http: httpx.AsyncClient
) -> None:
    long = "{ " + " ".join(f"a{n}: viewer {{ name }}" for n in range(29)) * 30 + " }"
    [error] = (await post(admin, http, {"query": long}, None)).json()["errors"]
    assert error["message"].startswith("the document is too long: more than 2000 tokens")
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    wrong = "{ " + " ".join(f"nope{n}" for n in range(150)) + " }"
    errors = (await post(admin, http, {"query": wrong}, None)).json()["errors"]
    assert "Validation aborted" not in str(errors)
    assert (
        errors[-1]["message"] == "the document has too many errors; the first ones are listed above"
    )
