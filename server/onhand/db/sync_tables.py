"""Batch-channel sync state: where each channel's connector is in its change feed, and the
scheduler's bookkeeping for push mode and stall detection (migration 0006)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Table,
    Text,
    func,
    text,
)

from onhand.db.metadata import metadata

# One row per channel that has pulled, acknowledged or been scheduled. Sequences are outbox
# sequences (the feed's cursors).
channel_sync = Table(
    "channel_sync",
    metadata,
    Column(
        "channel_id",
        BigInteger,
        ForeignKey("channels.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The newest feed cursor given to the channel (a pull or a push): acknowledgements may
    # not go past it.
    Column("handed_out_sequence", BigInteger, nullable=False, server_default="0"),
    Column("acknowledged_sequence", BigInteger),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("last_pull_at", DateTime(timezone=True)),
    # Push mode: the cursor the last batch went up to, and when a batch was last accepted.
    Column("pushed_cursor", Text),
    Column("last_push_at", DateTime(timezone=True)),
    Column("last_push_accepted_at", DateTime(timezone=True)),
    # The scheduler's queue: when the channel is next looked at (push and stall check).
    Column("next_due_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("stalled", Boolean, nullable=False, server_default=text("false")),
    Column("stalled_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_channel_sync_due", "next_due_at"),
)
