"""A reconciliation run may check one product's levels: the run records which.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "reconciliation_runs",
        sa.Column("product_id", sa.BigInteger(), sa.ForeignKey("products.id")),
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
