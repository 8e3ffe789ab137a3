"""Input rules shared by every operation, each reporting into a Collector by field name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from onhand.core.errors import Collector, ErrorCode

# One movement may move at most this many units; quantities are 32-bit in the API.
MAX_QUANTITY = 1_000_000_000
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
SKU_PATTERN = re.compile(r"^\S(.{0,126}\S)?$")
# PostgreSQL text cannot hold it, though JSON and GraphQL strings can.
NUL = "\x00"
# Half of a UTF-16 pair without its other half: JSON can escape one ("\ud800"), UTF-8 and so
# PostgreSQL cannot store it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A business timestamp may run ahead of our clock by this much (clock skew), no more.
FUTURE_TOLERANCE = timedelta(hours=1)


def quantity(
    errors: Collector,
    field: str,
    value: int | None,
    *,
    allow_zero: bool = True,
    allow_negative: bool = False,
) -> None:
    if value is None:
        return
    if not allow_negative and value < 0:
        errors.invalid(field, f"{field} must not be negative (got {value})")
    elif not allow_zero and value == 0:
        errors.invalid(field, f"{field} must not be zero")
    elif abs(value) > MAX_QUANTITY:
        errors.add(
            ErrorCode.QUANTITY_OUT_OF_RANGE,
            f"{field} must be at most {MAX_QUANTITY:,} in size (got {value:,})",
            field,
        )


def text(
    errors: Collector, field: str, value: str | None, *, max_length: int, required: bool = False
) -> str | None:
    """Strip surrounding whitespace; report a missing or over-long value."""
    if value is None:
        if required:
            errors.add(ErrorCode.REQUIRED, f"{field} is required", field)
        return None
    stripped = value.strip()
    if required and not stripped:
        errors.add(ErrorCode.REQUIRED, f"{field} must not be blank", field)
    elif len(stripped) > max_length:
        errors.invalid(field, f"{field} must be at most {max_length} characters")
    elif not storable(stripped):
        errors.invalid(field, f"{field} {UNSTORABLE}")
    return stripped or None


UNSTORABLE = "must not contain the NUL character (U+0000) or an unpaired surrogate"


def storable(value: str) -> bool:
    """Can PostgreSQL's text hold this string?"""
    return NUL not in value and not LONE_SURROGATE.search(value)


def coordinates(
    errors: Collector, latitude: float | None, longitude: float | None, field: str | None = None
) -> None:
    """Degrees on the globe; `field` names both in one error (a shipping address) when given."""
    for name, value, limit in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if value is not None and not -limit <= value <= limit:
            errors.invalid(field or name, f"{name} must be between -{limit} and {limit}")
    if field is not None and (latitude is None) != (longitude is None):
        errors.invalid(field, "give both latitude and longitude, or neither")


def code(errors: Collector, field: str, value: str | None, *, required: bool = True) -> None:
    if value is None:
        if required:
            errors.add(ErrorCode.REQUIRED, f"{field} is required", field)
        return
    if not CODE_PATTERN.match(value):
        errors.invalid(
            field,
            f"{field} {value!r} must be 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
        )


def code_and_name(errors: Collector, values: Mapping[str, Any]) -> dict[str, Any]:
    """The given values, with the `code` and `name` of a warehouse or channel checked (the
    name stripped)."""
    clean = dict(values)
    if "code" in values:
        code(errors, "code", values["code"])
    if "name" in values:
        clean["name"] = text(errors, "name", values["name"], max_length=200, required=True)
    return clean


def sku(errors: Collector, field: str, value: str | None) -> None:
    if value is None or not SKU_PATTERN.match(value) or not storable(value):
        errors.invalid(
            field, f"{field} must be 1-128 characters without leading or trailing spaces"
        )


def timestamp(errors: Collector, field: str, value: datetime | None) -> datetime | None:
    """A business timestamp: must carry a timezone and not lie in the future."""
    if value is None:
        return None
    if value.tzinfo is None:
        errors.invalid(field, f"{field} must include a timezone (e.g. 2024-05-01T12:00:00Z)")
        return None
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        errors.invalid(field, f"{field} {value.isoformat()} is in the future")
    return value


def camel(name: str) -> str:
    """The API's name of a field (postal_code -> postalCode), for messages."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
