"""Helpers for reading strawberry inputs into plain values for the domain."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, overload

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.api.ids import decode
from onhand.core.errors import DomainError, ErrorCode
from onhand.core.refs import Ref

if TYPE_CHECKING:
    from onhand.api.context import Info

NOTHING = -1  # the id a filter naming an unknown SKU or code takes: it matches nothing
IDEMPOTENCY_KEY = strawberry.field(
    default=None,
    description="Send the same key to retry safely: a replay returns the first result.",
)


Resolve = Callable[[AsyncConnection, Ref], Awaitable[int]]


@overload
async def filter_id(info: Info, ref: Ref, resolve: Resolve) -> int: ...


@overload
async def filter_id(info: Info, ref: Ref | None, resolve: Resolve) -> int | None: ...


async def filter_id(info: Info, ref: Ref | None, resolve: Resolve) -> int | None:
    """The id a list filter names (None: no filter); NOTHING for an unknown natural key, so
    that the list comes back empty rather than as an error."""
    if ref is None or ref.id is not None:
        return ref.id if ref else None
    async with info.context.services.engine.connect() as conn:
        try:
            return await resolve(conn, ref)
        except DomainError:
            return NOTHING


async def warehouse_filter_id(
    info: Info, warehouse_id: str | None, code: str | None, field: str
) -> int | None:
    """The warehouse a list filter names by global id or code (None: no filter; NOTHING for
    an unknown code, so that the list comes back empty)."""
    if warehouse_id is not None:
        return decode(warehouse_id, "Warehouse", field)
    if code is not None:
        found = await info.context.loaders.warehouse_by_code.load(code)
        return found.id if found else NOTHING
    return None


def provided(value: Any, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields of an input the client actually sent (UNSET ones left out), snake_case."""
    return {
        field.name: getattr(value, field.name)
        for field in dataclasses.fields(value)
        if field.name not in exclude and getattr(value, field.name) is not strawberry.UNSET
    }


def product_ref(
    product_id: str | None, sku: str | None, id_field: str = "productId", prefix: str = ""
) -> Ref:
    """A product named by its global id or its SKU (exactly one); `prefix` places the fields
    in a list input ("items.2.")."""
    return _ref(product_id, sku, "Product", prefix + id_field, prefix + "sku")


def warehouse_ref(
    warehouse_id: str | None,
    code: str | None,
    id_field: str = "warehouseId",
    code_field: str = "warehouseCode",
) -> Ref:
    """A warehouse named by its global id or its code (exactly one)."""
    return _ref(warehouse_id, code, "Warehouse", id_field, code_field)


def _ref(
    node_id: str | None, key: str | None, type_name: str, id_field: str, key_field: str
) -> Ref:
    if node_id is None and key is None:
        raise DomainError.of(ErrorCode.REQUIRED, f"give {id_field} or {key_field}", id_field)
    if node_id is not None and key is not None:
        raise DomainError.of(
            ErrorCode.INVALID, f"give either {id_field} or {key_field}, not both", id_field
        )
    if node_id is not None:
        return Ref(id=decode(node_id, type_name, id_field), field=id_field)
    return Ref(key=key, field=key_field)
