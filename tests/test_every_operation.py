"""Every query and mutation of the schema, called by every role with made-up but well-typed
arguments (ids of the wrong or a missing object, one-character strings, small numbers), answers
with data or coded errors: never an unexpected error, never a server error. Whatever a client
sends, no request crashes a resolver."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)

from onhand.api.schema import build_schema
from onhand.auth.roles import Role
from onhand.core.errors import ErrorCode
from support import factories
from support.client import Client

SCHEMA = build_schema()._schema
SCALARS: dict[str, Any] = {
    "ID": base64.b64encode(b"Product:1").decode(),
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "Long": 1,
    "DateTime": "2026-12-01T00:00:00Z",
    "Date": "2026-12-01",
    "JSON": {},
    "Decimal": "1",
}
SKIPPED = {"Upload"}  # files are sent as multipart requests, covered by the import tests


def value_of(type_: Any) -> Any:
    """A value of a GraphQL input type: required fields only, lists of one."""
    if isinstance(type_, GraphQLNonNull):
        return value_of(type_.of_type)
    if isinstance(type_, GraphQLList):
        return [value_of(type_.of_type)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: value_of(field.type)
            for name, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is None
        }
    if isinstance(type_, GraphQLScalarType):
        return SCALARS[type_.name]
    raise AssertionError(f"no value for {type_}")


DOMAIN_CODES = {str(code) for code in ErrorCode}
REQUEST_CODES = {
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_USER_INPUT",
    "BAD_REQUEST",
    "FORBIDDEN",
    "UNAUTHENTICATED",
    "PAYLOAD_TOO_LARGE",
    "UNAVAILABLE",
}


def named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def call(kind: str, name: str, field: GraphQLField) -> tuple[str, dict[str, Any]] | None:
    """A document calling the field with its required arguments, and their variables."""
    required = {
        arg_name: arg
        for arg_name, arg in field.args.items()
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is None
    }
    if any(named(arg.type).name in SKIPPED for arg in required.values()):
        return None
    declared = ", ".join(f"${n}: {a.type}" for n, a in required.items())
    passed = ", ".join(f"{n}: ${n}" for n in required)
    selection = "" if isinstance(named(field.type), GraphQLScalarType) else " { __typename }"
    header = f"{kind}({declared})" if declared else kind
    arguments = f"({passed})" if passed else ""
    document = f"{header} {{ {name}{arguments}{selection} }}"
    return document, {n: value_of(a.type) for n, a in required.items()}


CALLS = [
    pytest.param(*made, id=f"{kind}-{name}")
    for kind, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type))
    for name, field in sorted(root.fields.items())
    if (made := call(kind, name, field)) is not None
]


def test_the_sweep_covers_the_schema() -> None:
    fields = len(SCHEMA.query_type.fields) + len(SCHEMA.mutation_type.fields)
    assert len(CALLS) >= fields - 2  # all but the file-only ones


@pytest.mark.parametrize(("document", "variables"), CALLS)
async def test_every_operation_answers_every_role_with_data_or_coded_errors(
    admin: Client, http: Any, tokens: dict[Role, str], document: str, variables: dict[str, Any]
) -> None:
    # Product 1 exists and is stocked, so the made-up product id finds something.
    await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    for role in (Role.ADMIN, Role.STOREFRONT):
        response = await Client(http, tokens[role]).post(document, variables)
        assert response.status_code == 200, (role, response.text)
        body = response.json()
        for error in body.get("errors") or []:
            assert error["message"] != "Unexpected error.", (role, document, body)
            code = (error.get("extensions") or {}).get("code")
            # The README's convention: a domain code (queries) or one about the request.
            assert code in DOMAIN_CODES | REQUEST_CODES, (role, document, error)
            if document.startswith("mutation"):
                assert code in REQUEST_CODES, (role, document, error)  # the rest: the payload
