"""Event sequences grow past 32 bits in a long-lived deployment; GraphQL's Int does not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

Long = NewType("Long", int)
LONG_RANGE = range(-(2**63), 2**63)


def _parse_long(value: object) -> int:
    """A whole number that fits PostgreSQL's bigint; anything else is the client's error."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("Long must be a whole number")
    number = int(value)
    if number not in LONG_RANGE:
        raise ValueError("Long must fit in 64 bits (-2^63 to 2^63-1)")
    return number


# Keyed by object: StrawberryConfig maps any Python type to its scalar.
SCALARS: Mapping[object, ScalarDefinition] = {
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer (event sequences).",
        serialize=int,
        parse_value=_parse_long,
    )
}
