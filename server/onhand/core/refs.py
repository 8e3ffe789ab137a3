"""References to products and warehouses by id or by natural key (sku, warehouse code), so that
connectors and CSV files need no id lookups. Resolving them against the tables is the
inventory's (onhand.inventory.refs): the basics here read no table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ref:
    """An object named by its id or its natural key; `field` is the input field that named it."""

    id: int | None = None
    key: str | None = None
    field: str = ""
