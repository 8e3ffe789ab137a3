"""The README's examples run as written, in order, on the demo data of its quick start: each
GraphQL example that needs no variables, and each JSON input with the document it belongs to
(the GraphQL block just before it, or the `graphql/operations/` file its paragraph names),
answers without an error on a fresh demo database."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, OperationType, parse

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db.engine import create_engine
from onhand.seed.demo import seed
from support import database
from support.server import running_server

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
OPERATIONS = ROOT / "graphql" / "operations"
BLOCK = re.compile(r"```(graphql|json)\n(.*?)```", re.S)
NAMED = re.compile(r"`(\w+)\.graphql")


def steps() -> list[tuple[int, str, dict[str, Any]]]:
    """(README line, document, variables) of every example a client can send, in order."""
    found: list[tuple[int, str, dict[str, Any]]] = []
    previous_end, waiting = 0, None
    for block in BLOCK.finditer(README):
        kind, body = block.groups()
        line = README.count("\n", 0, block.start()) + 1
        between = README[previous_end : block.start()]
        previous_end = block.end()
        if kind == "graphql":
            [operation] = [
                d for d in parse(body).definitions if isinstance(d, OperationDefinitionNode)
            ]
            if operation.operation == OperationType.SUBSCRIPTION:
                waiting = None  # a stream, shown elsewhere
            elif operation.variable_definitions:
                waiting = body  # its variables follow
            else:
                found.append((line, body, {}))
                waiting = None
            continue
        names = NAMED.findall(between)
        document = waiting or ((OPERATIONS / f"{names[-1]}.graphql").read_text() if names else None)
        waiting = None
        if document is not None:  # else not a request (a webhook's body, say)
            found.append((line, document, json.loads(body)))
    return found


STEPS = steps()


def problems(value: Any, path: str = "data") -> list[str]:
    """Every refusal inside a payload: `errors` lists that are not empty, at any depth."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "errors" and isinstance(item, list) and item:
                found.append(f"{path}.errors: {item}")
            else:
                found += problems(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += problems(item, f"{path}[{i}]")
    return found


@pytest.fixture(scope="module")
def demo(database_server: str) -> Iterator[tuple[str, str]]:
    """A fresh database with the quick start's demo data, and an ADMIN token."""
    url = database.create(database_server)

    async def load() -> str:
        engine = create_engine(url)
        try:
            await seed(engine, "small")
            async with engine.begin() as conn:
                return (await create_token(conn, "readme", Role.ADMIN)).secret
        finally:
            await engine.dispose()

    token = asyncio.run(load())
    yield url, token
    database.drop(database_server, url)


def test_the_readme_has_runnable_examples() -> None:
    assert len(STEPS) >= 8, STEPS


def test_every_readme_example_runs_in_order_on_the_demo_data(
    demo: tuple[str, str], settings: Settings
) -> None:
    url, token = demo
    failures = []
    with running_server(settings, url) as base:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            for line, document, variables in STEPS:
                body = http.post("/graphql", json={"query": document, "variables": variables})
                answer = body.json()
                wrong = [f"{e.get('message')}" for e in answer.get("errors") or []]
                wrong += problems(answer.get("data"))
                if wrong:
                    failures.append(f"README line {line}: {wrong}")
    assert failures == []
