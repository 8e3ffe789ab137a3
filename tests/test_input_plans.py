"""Every input type of the schema is built from its plan exactly as strawberry's own
conversion builds it: the same class, the same values, for inputs given in full, with only
their required fields, and with explicit nulls (api/input_plans.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
)
from graphql.utilities import coerce_input_value
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from onhand.api.input_plans import InputPlan
from onhand.api.schema import build_schema

SCHEMA = build_schema()
CONVERTER = SCHEMA.schema_converter
# What a client sends for each scalar: the ID is a valid global id (Product 1), so that
# fields decoded as global ids and plain IDs both accept it.
SENT = {
    "Int": 3,
    "Long": 2**40,
    "Float": 2.5,
    "Boolean": True,
    "String": "text",
    "ID": "UHJvZHVjdDox",
    "DateTime": "2026-01-02T03:04:05+00:00",
}
UPLOAD = object()  # multipart hands the resolver the file itself
INPUTS = sorted(
    name
    for name, concrete in CONVERTER.type_map.items()
    if isinstance(concrete.definition, StrawberryObjectDefinition) and concrete.definition.is_input
)
VARIANTS = ("full", "required", "nulls")


def sent(type_: GraphQLInputType, variant: str, depth: int = 0) -> Any:
    """A value a client could send for `type_` (before graphql-core coerces it)."""
    if isinstance(type_, GraphQLNonNull):
        return sent(type_.of_type, variant, depth)
    if isinstance(type_, GraphQLList):
        return [sent(type_.of_type, variant, depth)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLScalarType):
        return UPLOAD if type_.name == "Upload" else SENT[type_.name]
    assert isinstance(type_, GraphQLInputObjectType)
    value: dict[str, Any] = {}
    for name, field in type_.fields.items():
        required = isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        if required or (variant == "full" and depth < 3):
            value[name] = sent(field.type, variant, depth + 1)
        elif variant == "nulls" and not isinstance(field.type, GraphQLNonNull):
            value[name] = None
    return value


@contextmanager
def without_plans() -> Iterator[None]:
    """strawberry's own conversion: every type's plan taken away for a moment."""
    definitions = [CONVERTER.type_map[name].definition for name in INPUTS]
    saved = [d.from_input for d in definitions]  # type: ignore[union-attr]  # inputs only
    for definition in definitions:
        definition.from_input = None  # type: ignore[union-attr]  # inputs only
    try:
        yield
    finally:
        for definition, plan in zip(definitions, saved, strict=True):
            definition.from_input = plan  # type: ignore[union-attr]  # inputs only


def built(value: Any, cls: type) -> Any:
    try:
        return convert_argument(value, cls, CONVERTER.scalar_registry, SCHEMA.config)
    except Exception as error:  # the same refusal either way counts as the same answer
        return (type(error), str(error))


def test_every_plain_input_type_has_a_plan() -> None:
    assert len(INPUTS) > 50
    for name in INPUTS:
        assert isinstance(CONVERTER.type_map[name].definition.from_input, InputPlan), name  # type: ignore[union-attr]  # inputs only


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_planned_input_is_what_strawberry_builds(variant: str) -> None:
    differ = []
    for name in INPUTS:
        graphql_type = SCHEMA._schema.type_map[name]
        assert isinstance(graphql_type, GraphQLInputObjectType)
        value = coerce_input_value(sent(graphql_type, variant), graphql_type)
        cls = CONVERTER.type_map[name].definition.origin  # type: ignore[union-attr]  # inputs only
        planned = built(value, cls)
        with without_plans():
            expected = built(value, cls)
        if type(planned) is not type(expected) or planned != expected:
            differ.append((name, planned, expected))
    assert not differ


def test_a_full_input_reaches_its_object() -> None:
    """The values sent are in the objects built: a plan that dropped a field would leave it
    at its default, and strawberry's conversion would agree only if it dropped it too."""
    for name in INPUTS:
        graphql_type = SCHEMA._schema.type_map[name]
        assert isinstance(graphql_type, GraphQLInputObjectType)
        value = coerce_input_value(sent(graphql_type, "full"), graphql_type)
        cls = CONVERTER.type_map[name].definition.origin  # type: ignore[union-attr]  # inputs only
        planned = built(value, cls)
        assert not isinstance(planned, tuple), (name, planned)
        for field in CONVERTER.type_map[name].definition.fields:  # type: ignore[union-attr]  # inputs only
            graphql_name = SCHEMA.config.name_converter.from_field(field)
            if value.get(graphql_name) is not None:
                assert getattr(planned, field.python_name) is not None, (name, field.python_name)
