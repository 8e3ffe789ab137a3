"""Transfer orders, alerts, reconciliation and cycle counts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    default = None if nullable else sa.text("now()")
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _int(name: str, default: str | None = None) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default=default, nullable=False)


def upgrade() -> None:
    op.create_table(
        "transfer_orders",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("from_warehouse_id", sa.BigInteger(), nullable=False),
        sa.Column("to_warehouse_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="PENDING", nullable=False),
        _at("expected_delivery", nullable=True),
        sa.Column("tracking_number", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        _int("version", "1"),
        _at("created_at"),
        _at("updated_at"),
        _at("shipped_at", nullable=True),
        _at("completed_at", nullable=True),
        _at("cancelled_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_orders")),
        _fk("transfer_orders", "from_warehouse_id", "warehouses"),
        _fk("transfer_orders", "to_warehouse_id", "warehouses"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'IN_TRANSIT', 'PARTIALLY_RECEIVED', 'COMPLETED', 'CANCELLED')",
            name=op.f("ck_transfer_orders_status_known"),
        ),
        sa.CheckConstraint(
            "from_warehouse_id <> to_warehouse_id", name=op.f("ck_transfer_orders_two_warehouses")
        ),
    )
    op.create_index("ix_transfer_orders_status", "transfer_orders", ["status", "id"])
    op.create_index(
        "ix_transfer_orders_from_warehouse", "transfer_orders", ["from_warehouse_id", "id"]
    )
    op.create_index("ix_transfer_orders_to_warehouse", "transfer_orders", ["to_warehouse_id", "id"])

    op.create_table(
        "transfer_order_lines",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transfer_order_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        _int("quantity"),
        _int("shipped_quantity", "0"),
        _int("received_quantity", "0"),
        _int("closed_quantity", "0"),
        _int("returned_quantity", "0"),
        sa.Column("reservation_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_order_lines")),
        _fk("transfer_order_lines", "transfer_order_id", "transfer_orders"),
        _fk("transfer_order_lines", "product_id", "products"),
        _fk("transfer_order_lines", "reservation_id", "reservations"),
        sa.UniqueConstraint(
            "transfer_order_id",
            "product_id",
            name=op.f("uq_transfer_order_lines_transfer_order_id_product_id"),
        ),
        sa.CheckConstraint(
            "quantity > 0 AND shipped_quantity >= 0 AND received_quantity >= 0"
            " AND closed_quantity >= 0 AND returned_quantity >= 0"
            " AND received_quantity + closed_quantity + returned_quantity <= shipped_quantity",
            name=op.f("ck_transfer_order_lines_quantities_in_range"),
        ),
    )

    op.create_table(
        "transfer_discrepancies",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transfer_order_id", sa.BigInteger(), nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        _int("shipped"),
        _int("received"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="PENDING_INVESTIGATION", nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        _at("created_at"),
        _at("resolved_at", nullable=True),
        sa.Column("resolved_by", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_discrepancies")),
        _fk("transfer_discrepancies", "transfer_order_id", "transfer_orders"),
        _fk("transfer_discrepancies", "line_id", "transfer_order_lines"),
        sa.CheckConstraint(
            "status IN ('PENDING_INVESTIGATION', 'RESOLVED')",
            name=op.f("ck_transfer_discrepancies_status_known"),
        ),
    )
    op.create_index("ix_transfer_discrepancies_status", "transfer_discrepancies", ["status", "id"])
    op.create_index(
        "ix_transfer_discrepancies_order", "transfer_discrepancies", ["transfer_order_id"]
    )

    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        _int("levels_checked", "0"),
        _int("discrepancy_count", "0"),
        _at("started_at"),
        _at("finished_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
        _fk("reconciliation_runs", "warehouse_id", "warehouses"),
        sa.CheckConstraint(
            "trigger IN ('MANUAL', 'SCHEDULED')", name=op.f("ck_reconciliation_runs_trigger_known")
        ),
    )
    op.create_index("ix_reconciliation_runs_trigger", "reconciliation_runs", ["trigger", "id"])

    op.create_table(
        "reconciliation_discrepancies",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("level_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        _int("recorded"),
        _int("expected"),
        sa.Column("status", sa.Text(), server_default="OPEN", nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_discrepancies")),
        _fk("reconciliation_discrepancies", "run_id", "reconciliation_runs"),
        sa.CheckConstraint(
            "status IN ('OPEN', 'SUPERSEDED')",
            name=op.f("ck_reconciliation_discrepancies_status_known"),
        ),
    )
    op.create_index(
        "ix_reconciliation_discrepancies_run", "reconciliation_discrepancies", ["run_id", "id"]
    )
    op.create_index(
        "ix_reconciliation_discrepancies_open",
        "reconciliation_discrepancies",
        ["warehouse_id"],
        postgresql_where=sa.text("status = 'OPEN'"),
    )

    op.create_table(
        "cycle_counts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        _int("threshold"),
        sa.Column("reference_id", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycle_counts")),
        _fk("cycle_counts", "warehouse_id", "warehouses"),
    )
    op.create_table(
        "cycle_count_lines",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("cycle_count_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        sa.Column("level_id", sa.BigInteger(), nullable=False),
        _int("counted_quantity"),
        _int("system_quantity"),
        _int("difference"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_by", sa.Text(), nullable=True),
        _at("reviewed_at", nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        _int("version", "1"),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycle_count_lines")),
        _fk("cycle_count_lines", "cycle_count_id", "cycle_counts"),
        _fk("cycle_count_lines", "product_id", "products"),
        sa.CheckConstraint(
            "status IN ('MATCHED', 'APPLIED', 'PENDING_REVIEW', 'APPROVED', 'REJECTED')",
            name=op.f("ck_cycle_count_lines_status_known"),
        ),
    )
    op.create_index("ix_cycle_count_lines_count", "cycle_count_lines", ["cycle_count_id", "id"])
    op.create_index(
        "ix_cycle_count_lines_pending",
        "cycle_count_lines",
        ["id"],
        postgresql_where=sa.text("status = 'PENDING_REVIEW'"),
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
