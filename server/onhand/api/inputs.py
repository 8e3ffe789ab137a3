"""Helpers for reading strawberry inputs into plain values for the domain."""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry

from onhand.api.ids import decode
from onhand.inventory.errors import DomainError, ErrorCode
from onhand.inventory.refs import Ref


def provided(value: Any, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields of an input the client actually sent (UNSET ones left out), snake_case."""
    return {
        field.name: getattr(value, field.name)
        for field in dataclasses.fields(value)
        if field.name not in exclude and getattr(value, field.name) is not strawberry.UNSET
    }


def product_ref(product_id: str | None, sku: str | None, id_field: str = "productId") -> Ref:
    """A product named by its global id or its SKU (exactly one)."""
    return _ref(product_id, sku, "Product", id_field, "sku")


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
    if (node_id is None) == (key is None):
        raise DomainError.of(
            ErrorCode.REQUIRED, f"give either {id_field} or {key_field}, not both", id_field
        )
    if node_id is not None:
        return Ref(id=decode(node_id, type_name, id_field), field=id_field)
    return Ref(key=key, field=key_field)
