"""Click-and-collect: the pickup location of each reservation made for pickup.

The migration 0016 creates this table (and the warehouses' pickup columns, in tables.py); this
module is what queries are built from. A table of its own rather than a column of
reservations: the hot reservation statements stay as they are for every other reservation.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Table

from onhand.db.metadata import metadata

# One row per reservation made for pickup; its warehouse is where the customer collects it
# (and, always, the warehouse the reservation holds its units at).
reservation_pickups = Table(
    "reservation_pickups",
    metadata,
    Column("reservation_id", BigInteger, ForeignKey("reservations.id"), primary_key=True),
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    Index("ix_reservation_pickups_warehouse", "warehouse_id"),
)
