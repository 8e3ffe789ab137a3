"""Webhooks may take several events per POST, in order: each says how many, and a batched
webhook holds a lease while one of its batches is on its way.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhooks",
        sa.Column(
            "max_events_per_delivery", sa.Integer(), nullable=False, server_default=sa.text("1")
        ),
    )
    op.create_check_constraint(
        op.f("ck_webhooks_max_events_per_delivery"),
        "webhooks",
        "max_events_per_delivery BETWEEN 1 AND 1000",
    )
    op.add_column("webhooks", sa.Column("batch_leased_until", sa.DateTime(timezone=True)))
    # A batched webhook's next batch is its oldest pending deliveries.
    op.create_index(
        "ix_webhook_deliveries_pending_of_webhook",
        "webhook_deliveries",
        ["webhook_id", "id"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    # Reversible (unlike most migrations here) so that the partitioning before it can be
    # taken back too: only what this one added goes.
    op.drop_index("ix_webhook_deliveries_pending_of_webhook", table_name="webhook_deliveries")
    op.drop_column("webhooks", "batch_leased_until")
    op.drop_constraint(op.f("ck_webhooks_max_events_per_delivery"), "webhooks", type_="check")
    op.drop_column("webhooks", "max_events_per_delivery")
