"""Channel feed cursors and sync status (the outbox is the feed's change log).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Where each batch channel's connector is in its change feed (outbox sequences), and the
    # scheduler's state for push mode and stall detection.
    op.create_table(
        "channel_sync",
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("handed_out_sequence", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("acknowledged_sequence", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pushed_cursor", sa.Text(), nullable=True),
        sa.Column("last_push_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_push_accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "next_due_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("stalled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("stalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_sync")),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            ondelete="CASCADE",
            name=op.f("fk_channel_sync_channel_id_channels"),
        ),
    )
    op.create_index("ix_channel_sync_due", "channel_sync", ["next_due_at"])


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
