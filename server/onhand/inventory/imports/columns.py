"""The columns of inventory CSV files, and how headers are matched to them."""

from __future__ import annotations

import re
from enum import StrEnum


class CsvColumn(StrEnum):
    PRODUCT_ID = "ProductID"
    PRODUCT_NAME = "ProductName"
    SKU = "SKU"
    WAREHOUSE_CODE = "WarehouseCode"
    QUANTITY = "Quantity"
    RESERVED = "Reserved"
    AVAILABLE = "Available"
    SAFETY_STOCK = "SafetyStock"
    REORDER_POINT = "ReorderPoint"
    REORDER_QUANTITY = "ReorderQuantity"


# What an export writes, in order (the seed's columns, then ReorderQuantity so that a round
# trip keeps it too).
EXPORTED = (
    CsvColumn.PRODUCT_ID,
    CsvColumn.PRODUCT_NAME,
    CsvColumn.SKU,
    CsvColumn.WAREHOUSE_CODE,
    CsvColumn.QUANTITY,
    CsvColumn.RESERVED,
    CsvColumn.AVAILABLE,
    CsvColumn.SAFETY_STOCK,
    CsvColumn.REORDER_POINT,
    CsvColumn.REORDER_QUANTITY,
)
# Read back from exports but not imported: they follow from reservations and the other
# quantities, so an exported file imports unchanged.
DERIVED = frozenset({CsvColumn.RESERVED, CsvColumn.AVAILABLE})
# A row names its product by either of these (both: they must agree).
PRODUCT_KEYS = (CsvColumn.SKU, CsvColumn.PRODUCT_ID)
REQUIRED = (CsvColumn.WAREHOUSE_CODE, CsvColumn.QUANTITY)
# Optional quantities: an empty cell leaves the value as it is.
SETTINGS = (CsvColumn.SAFETY_STOCK, CsvColumn.REORDER_POINT, CsvColumn.REORDER_QUANTITY)

# The staging table's column for each CSV column.
STAGED_NAMES = {
    CsvColumn.PRODUCT_ID: "product_ref",
    CsvColumn.PRODUCT_NAME: "product_name",
    CsvColumn.SKU: "sku",
    CsvColumn.WAREHOUSE_CODE: "warehouse_code",
    CsvColumn.QUANTITY: "quantity",
    CsvColumn.RESERVED: "reserved",
    CsvColumn.AVAILABLE: "available",
    CsvColumn.SAFETY_STOCK: "safety_stock",
    CsvColumn.REORDER_POINT: "reorder_point",
    CsvColumn.REORDER_QUANTITY: "reorder_quantity",
}

_IGNORED_IN_HEADERS = re.compile(r"[\s_\-.]+")
_BY_KEY = {column.value.lower(): column for column in CsvColumn}


def header_key(header: str) -> str:
    """`Warehouse Code`, `warehouse_code` and `WAREHOUSECODE` all match WarehouseCode."""
    return _IGNORED_IN_HEADERS.sub("", header).lower()


def match(header: str) -> CsvColumn | None:
    return _BY_KEY.get(header_key(header))
