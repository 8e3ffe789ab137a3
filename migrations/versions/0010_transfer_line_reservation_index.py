"""Reservation changes find whether a reservation is a transfer order's hold by an index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_transfer_order_lines_reservation",
        "transfer_order_lines",
        ["reservation_id"],
        unique=False,
        postgresql_where=sa.text("reservation_id IS NOT NULL"),
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
