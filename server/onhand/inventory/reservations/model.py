"""Reservations: stock held for a cart, an order or a transfer.

A CART or TRANSFER reservation holds units in its level's `reserved` bucket until it expires,
is released, is converted to an ORDER or ships. An ORDER reservation holds them in
`committed` and never expires. Every state change is a ledger movement (RESERVED, COMMITTED,
RELEASED, EXPIRED, SALE) written with the reservation's id and channel, and a
RESERVATION_CHANGED event. So, at all times, a level's `reserved` and `committed` are the
sums of its active reservations, and a channel's `held` (channel_inventory) is the sum of the
active reservations it made.

This module holds the records and the reads; creating is in reserving.py, the other
transitions in changes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.pagination import Listing
from onhand.db.channel_tables import reservations
from onhand.events.outbox import insert_events
from onhand.events.payloads import global_id


def named(reservation_id: int) -> str:
    """A reservation as messages name it: by the id clients know it by."""
    return f"reservation {global_id('Reservation', reservation_id)}"


class ReservationType(StrEnum):
    CART = "CART"  # expires (30 minutes by default)
    ORDER = "ORDER"  # never expires; holds committed stock
    TRANSFER = "TRANSFER"  # expires (24 hours by default)


class ReservationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    FULFILLED = "FULFILLED"


class ChangeKind(StrEnum):
    """What happened to a reservation, as RESERVATION_CHANGED events say."""

    CREATED = "CREATED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    EXTENDED = "EXTENDED"
    CONVERTED = "CONVERTED"
    FULFILLED = "FULFILLED"


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    type: ReservationType
    status: ReservationStatus
    product_id: int
    warehouse_id: int
    channel_id: int | None
    quantity: int
    fulfilled_quantity: int
    reference_id: str | None
    cart_reference_id: str | None
    variant_id: str | None
    expires_at: datetime | None
    actor: str
    version: int
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    # A kit's component hold: the kit's reservation, the kit, units of this product per kit
    # (kits/holds.py).
    kit_reservation_id: int | None = None
    kit_product_id: int | None = None
    kit_quantity: int | None = None

    @property
    def held(self) -> int:
        """Units this reservation holds now."""
        if self.status != ReservationStatus.ACTIVE:
            return 0
        return self.quantity - self.fulfilled_quantity

    @property
    def bucket(self) -> str:
        """The level bucket it holds its units in."""
        return "committed" if self.type == ReservationType.ORDER else "reserved"

    @classmethod
    def from_row(cls, row: Any) -> Reservation:
        m = row._mapping if hasattr(row, "_mapping") else row
        # Records kept before kits existed (idempotency replays) lack the kit fields.
        values = {
            f.name: m[f.name] if f.default is MISSING else m.get(f.name, f.default)
            for f in fields(cls)
        }
        values["type"] = ReservationType(values["type"])
        values["status"] = ReservationStatus(values["status"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """For idempotency records: a replay answers with the reservation as first made."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("expires_at", "created_at", "updated_at", "ended_at"):
            data[name] = data[name].isoformat() if data[name] else None
        data["type"] = str(self.type)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reservation:
        values = dict(data)
        for name in ("expires_at", "created_at", "updated_at", "ended_at"):
            values[name] = datetime.fromisoformat(values[name]) if values[name] else None
        return cls.from_row(values)


@dataclass(frozen=True)
class ReservationFilter:
    reference_id: str | None = None
    statuses: Sequence[ReservationStatus] = ()
    types: Sequence[ReservationType] = ()
    channel_id: int | None = None
    product_id: int | None = None
    warehouse_id: int | None = None
    expiring_before: datetime | None = None


def reservation_listing(filters: ReservationFilter) -> Listing:
    r = reservations.c
    query = select(reservations)
    if filters.reference_id is not None:
        query = query.where(r.reference_id == filters.reference_id)
    if filters.statuses:
        query = query.where(r.status.in_([str(s) for s in filters.statuses]))
    if filters.types:
        query = query.where(r.type.in_([str(t) for t in filters.types]))
    if filters.channel_id is not None:
        query = query.where(r.channel_id == filters.channel_id)
    if filters.product_id is not None:
        query = query.where(r.product_id == filters.product_id)
    if filters.warehouse_id is not None:
        query = query.where(r.warehouse_id == filters.warehouse_id)
    if filters.expiring_before is not None:
        query = query.where(r.expires_at.is_not(None), r.expires_at < filters.expiring_before)
    return Listing(query, r.id)


def expired_listing(before: datetime, channel_id: int | None = None) -> Listing:
    """Active reservations past their expiry: what the sweeper has not released yet."""
    return reservation_listing(
        ReservationFilter(
            statuses=(ReservationStatus.ACTIVE,), expiring_before=before, channel_id=channel_id
        )
    )


async def reservations_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Reservation]:
    rows = await conn.execute(select(reservations).where(reservations.c.id.in_(ids)))
    return {row.id: Reservation.from_row(row) for row in rows}


def event_payload(alias: str, kind: str) -> str:
    """The RESERVATION_CHANGED payload of a reservation row `alias`, as SQL."""
    a = alias
    return f"""json_build_object(
        'kind', CAST('{kind}' AS text), 'reservationId', {a}.id, 'type', {a}.type,
        'status', {a}.status, 'productId', {a}.product_id, 'warehouseId', {a}.warehouse_id,
        'channelId', {a}.channel_id, 'quantity', {a}.quantity,
        'fulfilledQuantity', {a}.fulfilled_quantity, 'referenceId', {a}.reference_id,
        'cartReferenceId', {a}.cart_reference_id, 'expiresAt', {a}.expires_at,
        'actor', CAST(:actor AS text), 'version', {a}.version, 'occurredAt', now())"""


def event_insert(alias: str, kind: str, source: str) -> str:
    """An INSERT of one RESERVATION_CHANGED event per row of `source` (a CTE name)."""
    return insert_events(
        f"""SELECT 'RESERVATION_CHANGED', {alias}.product_id, {alias}.warehouse_id,
            {alias}.channel_id, {event_payload(alias, kind)}
        FROM {source} {alias} ORDER BY {alias}.id"""
    )
