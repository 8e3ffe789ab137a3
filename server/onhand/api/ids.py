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
    except (ValueError, TypeError) as error:
        raise _invalid(field, type_name, "it is not an id this API gave out") from error
    if global_id.type_name != type_name:
        raise _invalid(field, type_name, f"it is a {global_id.type_name} id")
    return _number(global_id.node_id, field, type_name)


def node_ids(values: Iterable[str], type_name: str) -> list[int]:
    """The integer ids inside the global ids given to node(id:) and nodes(ids:)."""
    return [_number(value, "id", type_name) for value in values]


def _number(node_id: str, field: str, type_name: str) -> int:
    # Said in the client's terms: the decoder's own messages ("Incorrect padding", "invalid
    # literal for int()") describe our code, not their input.
    try:
        number = int(node_id)
    except ValueError as error:
        raise _invalid(field, type_name, "it names no object") from error
    if not 0 < number <= MAX_ID:
        raise _invalid(field, type_name, "it names no object")
    return number


def _invalid(field: str, type_name: str, why: str) -> DomainError:
    return DomainError.of(
        ErrorCode.INVALID_ID, f"{field} is not a valid {type_name} id: {why}", field
    )


def decode_optional(value: str | None, type_name: str, field: str) -> int | None:
    return None if value is None else decode(value, type_name, field)
