"""API tokens expire, and a rotation keeps the replaced secret working for an overlap.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("api_tokens", sa.Column("previous_token_hash", sa.LargeBinary()))
    op.add_column("api_tokens", sa.Column("previous_token_prefix", sa.Text()))
    op.add_column("api_tokens", sa.Column("previous_expires_at", sa.DateTime(timezone=True)))
    op.create_unique_constraint(
        op.f("uq_api_tokens_previous_token_hash"), "api_tokens", ["previous_token_hash"]
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
