"""Stock alerts and the evaluator's place in the event stream.

The migration 0008 creates these tables; this module is what queries are built from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from onhand.db.metadata import metadata
from onhand.db.tables import inventory_movements

# One row per time a condition started. `subject` names what the condition is about (a level
# "product:warehouse", a channel, a transfer discrepancy); at most one alert per kind and
# subject is not yet resolved, which the partial unique index enforces for every writer.
# Subjects are ids copied from events, not foreign keys: an alert outlives what it is about.
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="OPEN"),
    Column("subject", Text, nullable=False),
    Column("product_id", BigInteger),
    Column("warehouse_id", BigInteger),
    Column("channel_id", BigInteger),
    Column("message", Text, nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("raised_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    CheckConstraint("status IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED')", name="status_known"),
    CheckConstraint("severity IN ('LOW', 'MEDIUM', 'HIGH')", name="severity_known"),
    Index(
        "uq_alerts_open_condition",
        "kind",
        "subject",
        unique=True,
        postgresql_where=text("status <> 'RESOLVED'"),
    ),
    Index("ix_alerts_status", "status", "id"),
    Index("ix_alerts_product", "product_id", "id"),
    Index("ix_alerts_warehouse", "warehouse_id", "id"),
)

# Where the alert evaluator is in the event stream: every event up to here has been judged.
# One row, moved by whoever holds the evaluator's advisory lock.
alert_cursor = Table(
    "alert_cursor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# Outbound movements of a level (what HIGH_VELOCITY sums over the last hour). Partial, so that
# a level's reservations and receipts, however many, are never read to judge its velocity.
Index(
    "ix_inventory_movements_outbound",
    inventory_movements.c.level_id,
    inventory_movements.c.id,
    postgresql_where=text("d_on_hand < 0 AND type IN ('SALE', 'TRANSFER_OUT', 'ADJUSTMENT')"),
)
