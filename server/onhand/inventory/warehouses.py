"""Warehouses: where stock is. Created and edited by admins; version-checked edits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import any_, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.pagination import Listing
from onhand.core.records import Warehouse
from onhand.db.sql import contains_any
from onhand.db.tables import warehouses
from onhand.db.versioned import versioned_update


class Capability(StrEnum):
    SHIPPING = "SHIPPING"
    RECEIVING = "RECEIVING"
    STORAGE = "STORAGE"
    PICKUP = "PICKUP"
    RETURNS = "RETURNS"


ADDRESS_FIELDS = ("street", "city", "state", "postal_code", "country", "latitude", "longitude")
MAX_TIMEZONE = 64  # the longest IANA name is 32 characters
EDITABLE = (
    "code",
    "name",
    *ADDRESS_FIELDS,
    "timezone",
    "is_active",
    "priority",
    "capabilities",
    "allow_backorders",
    "pickup_instructions",
    "pickup_hours",
    "transfer_lead_hours",
)
PRIORITY_RANGE = (-1000, 1000)
# A transfer in that takes longer than 90 days is no offer to a customer waiting to collect.
LONGEST_TRANSFER_LEAD_HOURS = 90 * 24


@dataclass(frozen=True)
class WarehouseFilter:
    is_active: bool | None = None
    capability: Capability | None = None
    search: str | None = None
    codes: list[str] = field(default_factory=list)


def _validate(values: Mapping[str, Any], errors: Collector) -> dict[str, Any]:
    """Check and normalize the given fields (camelCase names in messages, as clients send)."""
    clean = check.code_and_name(errors, values)
    for name in ("street", "city", "state", "postal_code", "country"):
        if name in values:
            clean[name] = check.text(errors, check.camel(name), values[name], max_length=200)
    check.coordinates(errors, values.get("latitude"), values.get("longitude"))
    if "timezone" in values:
        clean["timezone"] = _timezone(values["timezone"], errors)
    if "priority" in values:
        low, high = PRIORITY_RANGE
        if values["priority"] is None or not low <= values["priority"] <= high:
            errors.invalid("priority", f"priority must be between {low} and {high}")
    if "capabilities" in values:
        clean["capabilities"] = sorted({str(Capability(c)) for c in values["capabilities"] or []})
    for name in ("pickup_instructions", "pickup_hours"):
        if name in values:
            clean[name] = check.text(errors, check.camel(name), values[name], max_length=500)
    if values.get("transfer_lead_hours") is not None:
        lead = values["transfer_lead_hours"]
        if not 0 <= lead <= LONGEST_TRANSFER_LEAD_HOURS:
            errors.invalid(
                "transferLeadHours",
                f"transferLeadHours must be between 0 and {LONGEST_TRANSFER_LEAD_HOURS}",
            )
    for flag in ("is_active", "allow_backorders"):
        if flag in values and values[flag] is None:
            errors.invalid(check.camel(flag), f"{check.camel(flag)} must be true or false")
    return clean


def _timezone(value: str | None, errors: Collector) -> str | None:
    if value is None:
        errors.invalid("timezone", "timezone must be an IANA name such as America/Chicago")
        return None
    if len(value) > MAX_TIMEZONE:
        errors.invalid("timezone", f"timezone must be at most {MAX_TIMEZONE} characters")
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: not a usable file name
        errors.invalid("timezone", f"unknown timezone {value!r} (use an IANA name)")
    return value


async def create_warehouse(conn: AsyncConnection, values: Mapping[str, Any]) -> Warehouse:
    errors = Collector()
    for required in ("code", "name"):
        if values.get(required) is None:
            errors.add(ErrorCode.REQUIRED, f"{required} is required", required)
    clean = _validate({"timezone": "UTC", **values}, errors)
    errors.raise_if_any()
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(insert(warehouses).values(**clean).returning(warehouses))
            ).one()
    except IntegrityError as error:
        raise _duplicate_code(clean["code"]) from error
    return Warehouse.from_row(row)


async def update_warehouse(
    conn: AsyncConnection,
    warehouse_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> Warehouse:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    errors = Collector()
    clean = _validate(changes, errors)
    errors.raise_if_any()
    row = await versioned_update(
        conn,
        warehouses,
        warehouse_id,
        clean,
        expected_version,
        "warehouse",
        lambda: _duplicate_code(clean.get("code")),
    )
    return Warehouse.from_row(row)


def _duplicate_code(code: str | None) -> DomainError:
    return DomainError.of(
        ErrorCode.ALREADY_EXISTS, f"a warehouse with code {code!r} already exists", "code"
    )


async def get_warehouse(conn: AsyncConnection, warehouse_id: int) -> Warehouse | None:
    row = (await conn.execute(select(warehouses).where(warehouses.c.id == warehouse_id))).first()
    return Warehouse.from_row(row) if row else None


async def warehouses_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Warehouse]:
    rows = await conn.execute(select(warehouses).where(warehouses.c.id.in_(ids)))
    return {row.id: Warehouse.from_row(row) for row in rows}


async def warehouses_by_codes(conn: AsyncConnection, codes: Sequence[str]) -> dict[str, Warehouse]:
    rows = await conn.execute(select(warehouses).where(warehouses.c.code.in_(codes)))
    return {row.code: Warehouse.from_row(row) for row in rows}


def warehouse_listing(filters: WarehouseFilter) -> Listing:
    query = select(warehouses)
    if filters.is_active is not None:
        query = query.where(warehouses.c.is_active == filters.is_active)
    if filters.capability is not None:
        query = query.where(literal(str(filters.capability)) == any_(warehouses.c.capabilities))
    if filters.codes:
        query = query.where(warehouses.c.code.in_(filters.codes))
    if filters.search:
        query = query.where(contains_any(filters.search, warehouses.c.code, warehouses.c.name))
    return Listing(query, warehouses.c.id)
