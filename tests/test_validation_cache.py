"""Validation answers are cached by the document's text, for one schema and one set of rules
(api/validation_cache.py): the answer is the one validation gives, every time."""

from __future__ import annotations

import httpx
from graphql import GraphQLError, parse, validate

from onhand.api.schema import build_schema
from onhand.api.validation_cache import _Answers
from onhand.auth.roles import Role
from onhand.config import Settings
from support.client import Client
from support.server import running_server

INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_a_refused_document_is_refused_alike_every_time(admin: Client) -> None:
    document = "{ warehouses { nosuchfield } viewer { name } }"
    first, second = await admin.raw(document), await admin.raw(document)
    assert first["errors"] == second["errors"]
    assert [e["extensions"]["code"] for e in first["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "nosuchfield" in first["errors"][0]["message"]
    # What graphql-core's validation says of it, word for word.
    expected = validate(build_schema()._schema, parse(document))
    assert [e["message"] for e in first["errors"]] == [e.message for e in expected]


async def test_schemas_with_other_rules_do_not_share_answers(
    settings: Settings, database_url: str, tokens: dict[Role, str], admin: Client
) -> None:
    """The same text, validated under the rules of a server that hides its schema and of one
    that shows it, in turn: each keeps its own answer."""
    assert (await admin(INTROSPECTION))["__schema"]["queryType"]["name"] == "Query"
    hidden = settings.model_copy(update={"expose_schema": False})
    headers = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}
    with running_server(hidden, database_url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            refused = (
                await http.post("/graphql", json={"query": INTROSPECTION}, headers=headers)
            ).json()
    assert refused.get("data") is None
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert (await admin(INTROSPECTION))["__schema"]["queryType"]["name"] == "Query"


def test_the_answers_are_bounded_least_recently_used_first() -> None:
    answers = _Answers(2)
    schema = build_schema()._schema
    refused = [GraphQLError("no")]
    answers.put((schema, "a", ()), [])
    answers.put((schema, "b", ()), refused)
    assert answers.get((schema, "a", ())) == []  # now the most recently used
    answers.put((schema, "c", ()), [])
    assert answers.get((schema, "b", ())) is None
    assert answers.get((schema, "a", ())) == []
    assert answers.get((schema, "c", ())) == []
