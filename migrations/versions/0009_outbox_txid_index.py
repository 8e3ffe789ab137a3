"""The relay finds the events of still-running writers by an index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_unpublished_txid",
        "outbox",
        ["txid"],
        unique=False,
        postgresql_where=sa.text("sequence IS NULL"),
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
