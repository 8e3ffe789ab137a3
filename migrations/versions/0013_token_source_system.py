"""A token may be bound to a source system: it then posts events only as that system.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("source_system", sa.Text()))


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
