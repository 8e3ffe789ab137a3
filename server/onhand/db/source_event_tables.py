"""Source-system events: what ERPs and warehouse systems pushed, and where each source is in
its sequence.

The migration 0007 creates these tables; this module is what queries are built from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from onhand.db.metadata import metadata

# One row per source system. Its row lock (SELECT ... FOR UPDATE) serializes every push from
# that source, so events apply in sequence order whatever the number of concurrent clients.
source_systems = Table(
    "source_systems",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("code", Text, nullable=False, unique=True),
    # The highest sequence applied (or failed) so far: the next expected is this + 1.
    Column("last_applied_sequence", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("last_applied_sequence >= 0", name="sequence_not_negative"),
)

# Every accepted event: HELD until its turn, then APPLIED or FAILED. Rejected events (stale
# sequence, bad input) are answered to the sender and not stored: they changed nothing and
# the sender may send them again, corrected.
source_events = Table(
    "source_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source_system_id", BigInteger, ForeignKey("source_systems.id"), nullable=False),
    Column("event_id", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    Column("destination_warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=True),
    # The signed change at the warehouse, or for a COUNT the counted quantity.
    Column("quantity", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=True),
    Column("reference_document", Text, nullable=True),
    Column("correlation_id", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("actor", Text, nullable=False),
    # FAILED: the problems, as [{code, message, field}].
    Column("errors", JSONB, nullable=True),
    Column("movement_ids", ARRAY(BigInteger), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("source_system_id", "event_id"),
    UniqueConstraint("source_system_id", "sequence"),
    CheckConstraint("sequence > 0", name="sequence_positive"),
    CheckConstraint("status IN ('HELD', 'APPLIED', 'FAILED')", name="status_known"),
    Index("ix_source_events_source_system_id_status", "source_system_id", "status", "id"),
)
