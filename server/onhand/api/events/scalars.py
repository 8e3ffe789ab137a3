"""Event sequences grow past 32 bits in a long-lived deployment; GraphQL's Int does not."""

from __future__ import annotations

from typing import NewType

import strawberry

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


SCALARS = {
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer (event sequences).",
        serialize=int,
        parse_value=_parse_long,
    )
}
