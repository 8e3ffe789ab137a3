"""Global ids: opaque to clients ("Product:42" in base64), typed on the way back in."""

from __future__ import annotations

from collections.abc import Iterable

from strawberry import relay

from onhand.core.errors import DomainError, ErrorCode

# Ids are PostgreSQL bigints: a larger number names nothing, and must not reach the database.
MAX_ID = 2**63 - 1


def encode(type_name: str, node_id: int) -> str:
    return str(relay.GlobalID(type_name, str(node_id)))


def decode(value: str, type_name: str, field: str) -> int:
    """The integer id inside a global id of `type_name`, or INVALID_ID naming the field."""
    try:
        global_id = relay.GlobalID.from_id(value)
        if global_id.type_name != type_name:
            raise ValueError(f"a {global_id.type_name} id")
        node_id = _number(global_id.node_id)
    except (ValueError, TypeError) as error:
        raise DomainError.of(
            ErrorCode.INVALID_ID, f"{field} is not a valid {type_name} id ({error})", field
        ) from error
    return node_id


def node_ids(values: Iterable[str], type_name: str) -> list[int]:
    """The integer ids inside the global ids given to node(id:) and nodes(ids:)."""
    try:
        return [_number(value) for value in values]
    except ValueError as error:
        raise DomainError.of(
            ErrorCode.INVALID_ID, f"id is not a valid {type_name} id ({error})", "id"
        ) from error


def _number(node_id: str) -> int:
    number = int(node_id)
    if not 0 < number <= MAX_ID:
        raise ValueError("out of range")
    return number


def decode_optional(value: str | None, type_name: str, field: str) -> int | None:
    return None if value is None else decode(value, type_name, field)
