"""Every attempt of a webhook delivery is kept, so a retried dead delivery keeps its history.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "webhook_deliveries.id",
                ondelete="CASCADE",
                name="fk_webhook_delivery_attempts_delivery_id_webhook_deliveries",
            ),
            nullable=False,
        ),
        sa.Column(
            "attempted_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("duration_ms", sa.Float()),
    )
    op.create_index(
        "ix_webhook_delivery_attempts_delivery", "webhook_delivery_attempts", ["delivery_id", "id"]
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
