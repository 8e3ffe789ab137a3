"""Due deliveries are claimed per webhook in the order (next_attempt_at, id): the index says
all three, so that a claim reads about the rows it takes. With the time alone, deliveries made
by one transaction (an import's, thousands at one timestamp) were all read and sorted by id on
every claim, and a claim passed over every delivery of a webhook with no room left in flight.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _due_index(*columns: str) -> None:
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        list(columns),
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def upgrade() -> None:
    _due_index("webhook_id", "next_attempt_at", "id")


def downgrade() -> None:
    _due_index("next_attempt_at")
