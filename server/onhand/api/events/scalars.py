"""Event sequences grow past 32 bits in a long-lived deployment; GraphQL's Int does not."""

from __future__ import annotations

from typing import NewType

import strawberry

Long = NewType("Long", int)

SCALARS = {
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer (event sequences).",
        serialize=int,
        parse_value=int,
    )
}
