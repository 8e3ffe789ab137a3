"""Stock alerts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="OPEN", nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "raised_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.CheckConstraint(
            "status IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED')", name=op.f("ck_alerts_status_known")
        ),
        sa.CheckConstraint(
            "severity IN ('LOW', 'MEDIUM', 'HIGH')", name=op.f("ck_alerts_severity_known")
        ),
    )
    # At most one unresolved alert per condition and subject, whoever raises it.
    op.create_index(
        "uq_alerts_open_condition",
        "alerts",
        ["kind", "subject"],
        unique=True,
        postgresql_where=sa.text("status <> 'RESOLVED'"),
    )
    op.create_index("ix_alerts_status", "alerts", ["status", "id"])
    op.create_index("ix_alerts_product", "alerts", ["product_id", "id"])
    op.create_index("ix_alerts_warehouse", "alerts", ["warehouse_id", "id"])

    # Outbound movements per level, for HIGH_VELOCITY's hourly sums.
    op.create_index(
        "ix_inventory_movements_outbound",
        "inventory_movements",
        ["level_id", "id"],
        postgresql_where=sa.text(
            "d_on_hand < 0 AND type IN ('SALE', 'TRANSFER_OUT', 'ADJUSTMENT')"
        ),
    )

    op.create_table(
        "alert_cursor",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_alert_cursor_single_row"),
    )
    # Start at the events published so far: conditions are judged from the next change on.
    op.execute(
        "INSERT INTO alert_cursor (id, last_sequence)"
        " SELECT 1, coalesce((SELECT last_sequence FROM outbox_cursor WHERE id = 1), 0)"
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
