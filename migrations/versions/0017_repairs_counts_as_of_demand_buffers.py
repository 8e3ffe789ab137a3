"""Reconciliation repairs, counts dated by when they were counted, and demand-driven buffers.

- reconciliation_runs.repair: whether a run only showed its repairs (DRY_RUN) or wrote them
  (APPLIED); reconciliation_repairs: each repair, why, and the ledger row that made it; a
  discrepancy a run repaired is REPAIRED.
- cycle_counts.counted_at: the moment the stock was counted (its difference is taken as of it).
- channel_demand_buffer_settings: a channel whose buffer is computed from its sales;
  channel_demand_buffers: the buffer of each product and the inputs it came from.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.add_column("reconciliation_runs", sa.Column("repair", sa.Text()))
    op.create_check_constraint(
        "repair_known", "reconciliation_runs", "repair IS NULL OR repair IN ('DRY_RUN', 'APPLIED')"
    )
    op.drop_constraint(
        "ck_reconciliation_discrepancies_status_known", "reconciliation_discrepancies"
    )
    op.create_check_constraint(
        "status_known",
        "reconciliation_discrepancies",
        "status IN ('OPEN', 'SUPERSEDED', 'REPAIRED')",
    )
    op.create_table(
        "reconciliation_repairs",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "reconciliation_runs.id",
                name="fk_reconciliation_repairs_run_id_reconciliation_runs",
            ),
            nullable=False,
        ),
        sa.Column("level_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("recorded", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("movement_id", sa.BigInteger()),
        _now(),
        sa.CheckConstraint(
            "kind IN ('RECORD_OUTSIDE_CHANGE', 'REBUILD_FROM_RESERVATIONS')",
            name="ck_reconciliation_repairs_kind_known",
        ),
    )
    op.create_index("ix_reconciliation_repairs_run", "reconciliation_repairs", ["run_id", "id"])
    op.add_column("cycle_counts", sa.Column("counted_at", sa.DateTime(timezone=True)))
    op.create_table(
        "channel_demand_buffer_settings",
        sa.Column(
            "channel_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "channels.id", name="fk_channel_demand_buffer_settings_channel_id_channels"
            ),
            primary_key=True,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("service_level", sa.Float(), nullable=False),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Float(), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.Column("maximum", sa.Integer()),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("recomputed_at", sa.DateTime(timezone=True)),
        _now(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "service_level > 0 AND service_level < 1 AND lookback_days > 0"
            " AND lead_time_days > 0 AND minimum >= 0 AND (maximum IS NULL OR maximum >= minimum)",
            name="ck_channel_demand_buffer_settings_in_range",
        ),
    )
    op.create_table(
        "channel_demand_buffers",
        sa.Column(
            "channel_id",
            sa.BigInteger(),
            sa.ForeignKey("channels.id", name="fk_channel_demand_buffers_channel_id_channels"),
            nullable=False,
        ),
        sa.Column(
            "product_id",
            sa.BigInteger(),
            sa.ForeignKey("products.id", name="fk_channel_demand_buffers_product_id_products"),
            nullable=False,
        ),
        sa.Column("buffer", sa.Integer(), nullable=False),
        sa.Column("units_sold", sa.Integer(), nullable=False),
        sa.Column("mean_daily", sa.Float(), nullable=False),
        sa.Column("deviation_daily", sa.Float(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("service_level", sa.Float(), nullable=False),
        sa.Column("z", sa.Float(), nullable=False),
        sa.Column("lead_time_days", sa.Float(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "product_id", name="pk_channel_demand_buffers"),
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
