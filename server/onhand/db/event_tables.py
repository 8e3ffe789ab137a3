"""Tables of the event stream beyond the outbox itself."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from onhand.db.metadata import metadata

outbox_cursor = Table(
    "outbox_cursor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# The highest sequence in an outbox partition dropped for retention (db/partitions.py):
# readers resuming at or before it may have missed events. One row, once anything is dropped.
outbox_retention = Table(
    "outbox_retention",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dropped_through", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# Where the webhook enqueuer is in the event stream: deliveries exist for every event up to
# here. One row; whoever holds its lock does the enqueuing.
webhook_cursor = Table(
    "webhook_cursor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("topics", ARRAY(Text), nullable=False),
    Column("channel_id", BigInteger),
    Column("secret", Text, nullable=False),
    Column("description", Text),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("version", Integer, nullable=False, server_default="1"),
    # The circuit breaker: after repeated failures, deliveries wait until it closes again.
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("circuit_open_until", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_failure_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Events per POST: 1 sends each event's body alone; more sends an ordered JSON array.
    Column("max_events_per_delivery", Integer, nullable=False, server_default="1"),
    # Set while one of a batched webhook's batches is on its way: the next waits for it.
    Column("batch_leased_until", DateTime(timezone=True)),
    CheckConstraint("max_events_per_delivery BETWEEN 1 AND 1000", name="max_events_per_delivery"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("webhook_id", BigInteger, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("sequence", BigInteger),
    Column("topic", Text, nullable=False),
    Column("body", JSONB, nullable=False),
    # PENDING (waiting or retrying), SUCCEEDED, or DEAD (retries exhausted: dead-lettered).
    Column("status", Text, nullable=False, server_default="PENDING"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("last_status_code", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("webhook_id", "sequence"),
    # A webhook's claim order: due first, then oldest.
    Index(
        "ix_webhook_deliveries_due",
        "webhook_id",
        "next_attempt_at",
        "id",
        postgresql_where=text("status = 'PENDING'"),
    ),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    Index(
        "ix_webhook_deliveries_pending_of_webhook",
        "webhook_id",
        "id",
        postgresql_where=text("status = 'PENDING'"),
    ),
)

# Every attempt of a delivery, kept when a dead delivery is retried (its `attempts` counts
# only the attempts since).
webhook_delivery_attempts = Table(
    "webhook_delivery_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        BigInteger,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float),
    Index("ix_webhook_delivery_attempts_delivery", "delivery_id", "id"),
)
