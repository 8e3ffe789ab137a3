"""Input objects built from a plan made once per type, not worked out again on every request.

strawberry turns each input value into its Python class by walking the type's fields on
every call: it resolves each field's annotation and GraphQL name again, and asks again
whether each type is a scalar. On a hot mutation that walk was a tenth of the server's CPU.
strawberry's own hook for input types that build their own value (`from_input`) is given a
plan per type instead: the fields' names and resolved types, and for each field whether its
value is already what Python wants (scalars and enums, which graphql-core has already
parsed) or needs strawberry's conversion (nested inputs, lists of them, global ids). The
values built are the ones strawberry builds: the same class, the same keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext, convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType

# A field's conversion: its value, the context, the field's location -> the Python value.
Convert = Callable[[object, InputContext, tuple[str | int, ...]], object]


def _as_is(value: object, context: InputContext, path: tuple[str | int, ...]) -> object:
    # strawberry returns a leaf's value unchanged, None and UNSET included.
    return value


def _copied(value: object, context: InputContext, path: tuple[str | int, ...]) -> object:
    # A list of leaves is copied, not converted: graphql-core hands every request that omits
    # the value the same default list.
    if value is None or value is strawberry.UNSET:
        return value
    return list(value)  # type: ignore[call-overload]  # graphql-core gives a list here


def _leaf(type_: object, scalars: Mapping[object, Any]) -> bool:
    """A value graphql-core has already made into its Python value (scalars, enums), other
    than global ids, which strawberry decodes itself."""
    if type_ is GlobalID:
        return False
    if isinstance(type_, LazyType):
        return _leaf(type_.resolve_type(), scalars)
    return (
        isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
        or is_scalar(type_, scalars)
    )


def _conversion(type_: StrawberryType | type, scalars: Mapping[object, Any]) -> Convert:
    if isinstance(type_, StrawberryMaybe):
        return _general(type_)
    inner = type_.of_type if isinstance(type_, StrawberryOptional) else type_
    if _leaf(inner, scalars):
        return _as_is
    if isinstance(inner, StrawberryList):
        item = inner.of_type
        item = item.of_type if isinstance(item, StrawberryOptional) else item
        if _leaf(item, scalars):
            return _copied
    return _general(type_)


def _general(type_: StrawberryType | type) -> Convert:
    def convert(value: object, context: InputContext, path: tuple[str | int, ...]) -> object:
        return convert_argument(
            value, type_, context.scalar_registry, context.config, context.info, path=path
        )

    return convert


class InputPlan:
    """strawberry's `from_input` for one input type: builds its value from the plan, made at
    the first call (when every lazy type of the schema can be resolved)."""

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.definition = definition
        self.fields: list[tuple[str, str, Convert]] | None = None
        self.unset: dict[str, None] = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }

    def _plan(self, context: InputContext) -> list[tuple[str, str, Convert]]:
        definition = self.definition
        return [
            (
                context.config.name_converter.from_field(field),
                field.python_name,
                _conversion(
                    field.resolve_type(type_definition=definition), context.scalar_registry
                ),
            )
            for field in definition.fields
        ]

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        fields = self.fields
        if fields is None:
            fields = self.fields = self._plan(context)
        # As strawberry does: every field without a default is None unless the client gave it
        # (graphql-core has already refused a missing required one).
        kwargs: dict[str, object] = dict(self.unset)
        path = context.path
        for graphql_name, python_name, convert in fields:
            if graphql_name in value:
                kwargs[python_name] = convert(value[graphql_name], context, (*path, graphql_name))
        return cls(**kwargs)


def plan_inputs(schema: strawberry.Schema) -> None:
    """Give every plain input type of `schema` a plan. Types that already build their own
    value, generic ones and those with `Maybe` fields (whose nulls strawberry validates only
    for types without the hook) keep strawberry's own conversion."""
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        if (
            not isinstance(definition, StrawberryObjectDefinition)
            or not definition.is_input
            or definition.from_input is not None
            or definition.is_graphql_generic
            or definition.type_var_map
            or any(isinstance(f.type, StrawberryMaybe) for f in definition.fields)
        ):
            continue
        definition.from_input = InputPlan(definition)
