"""Documents made from the schema itself: each root field called with made-up but
well-typed required arguments (ids of the wrong or a missing object, one-character strings,
small numbers), for sweeps over every operation."""

from __future__ import annotations

import base64
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)

from onhand.api.schema import build_schema
from onhand.core.errors import ErrorCode

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
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
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
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
    }
    if any(named(arg.type).name in SKIPPED for arg in required.values()):
        return None
    declared = ", ".join(f"${n}: {a.type}" for n, a in required.items())
    passed = ", ".join(f"{n}: ${n}" for n in required)
    selection = "" if isinstance(named(field.type), GraphQLScalarType) else " { __typename }"
    result = named(field.type)
    errors = result.fields.get("errors") if isinstance(result, GraphQLObjectType) else None
    if errors is not None and named(errors.type).name == "UserError":
        selection = " { __typename errors { code } }"  # a payload: its refusals too
    header = f"{kind}({declared})" if declared else kind
    arguments = f"({passed})" if passed else ""
    document = f"{header} {{ {name}{arguments}{selection} }}"
    return document, {n: value_of(a.type) for n, a in required.items()}
