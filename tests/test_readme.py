"""Every GraphQL example in the README is valid against the schema, so the documentation
cannot drift from the API unnoticed (the operations in graphql/operations/ also run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from onhand.api.schema import build_schema

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_graphql_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example-{n}" for n in range(len(BLOCKS))])
def test_a_readme_example_is_valid_against_the_schema(block: str) -> None:
    errors = validate(build_schema()._schema, parse(block))
    assert not errors, f"{[e.message for e in errors]}\n{block}"
