"""Operations on stock over time: transfer orders (and their discrepancies), reconciliation
runs and cycle counts. The migration 0005 creates these tables; this module is what queries
are built from (0017 adds repairs and counts dated by when they were counted)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from onhand.db.metadata import metadata


def _created() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Column:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


TRANSFER_STATUSES = ("PENDING", "IN_TRANSIT", "PARTIALLY_RECEIVED", "COMPLETED", "CANCELLED")

transfer_orders = Table(
    "transfer_orders",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("from_warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    Column("to_warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    Column("status", Text, nullable=False, server_default="PENDING"),
    Column("expected_delivery", DateTime(timezone=True)),
    Column("tracking_number", Text),
    Column("notes", Text),
    Column("cancel_reason", Text),
    Column("actor", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    _created(),
    _updated(),
    Column("shipped_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("cancelled_at", DateTime(timezone=True)),
    CheckConstraint(
        "status IN ('PENDING', 'IN_TRANSIT', 'PARTIALLY_RECEIVED', 'COMPLETED', 'CANCELLED')",
        name="status_known",
    ),
    CheckConstraint("from_warehouse_id <> to_warehouse_id", name="two_warehouses"),
    Index("ix_transfer_orders_status", "status", "id"),
    Index("ix_transfer_orders_from_warehouse", "from_warehouse_id", "id"),
    Index("ix_transfer_orders_to_warehouse", "to_warehouse_id", "id"),
)

# One line per product. Outstanding (in transit) = shipped - received - closed - returned.
transfer_order_lines = Table(
    "transfer_order_lines",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("transfer_order_id", BigInteger, ForeignKey("transfer_orders.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("shipped_quantity", Integer, nullable=False, server_default="0"),
    Column("received_quantity", Integer, nullable=False, server_default="0"),
    # Shipped units written off when the line was closed short (lost, never arrived).
    Column("closed_quantity", Integer, nullable=False, server_default="0"),
    # Shipped units sent back to the source when the order was cancelled in transit.
    Column("returned_quantity", Integer, nullable=False, server_default="0"),
    # The TRANSFER reservation holding the units at the source until the order ships.
    Column("reservation_id", BigInteger, ForeignKey("reservations.id")),
    UniqueConstraint("transfer_order_id", "product_id"),
    CheckConstraint(
        "quantity > 0 AND shipped_quantity >= 0 AND received_quantity >= 0"
        " AND closed_quantity >= 0 AND returned_quantity >= 0"
        " AND received_quantity + closed_quantity + returned_quantity <= shipped_quantity",
        name="quantities_in_range",
    ),
    # Changing a reservation asks whether it is a transfer order's hold.
    Index(
        "ix_transfer_order_lines_reservation",
        "reservation_id",
        postgresql_where=text("reservation_id IS NOT NULL"),
    ),
)

transfer_discrepancies = Table(
    "transfer_discrepancies",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("transfer_order_id", BigInteger, ForeignKey("transfer_orders.id"), nullable=False),
    Column("line_id", BigInteger, ForeignKey("transfer_order_lines.id"), nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("warehouse_id", BigInteger, nullable=False),
    Column("shipped", Integer, nullable=False),
    Column("received", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="PENDING_INVESTIGATION"),
    Column("actor", Text, nullable=False),
    _created(),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    Column("resolution", Text),
    CheckConstraint("status IN ('PENDING_INVESTIGATION', 'RESOLVED')", name="status_known"),
    Index("ix_transfer_discrepancies_status", "status", "id"),
    Index("ix_transfer_discrepancies_order", "transfer_order_id"),
)

reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # None: every warehouse.
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id")),
    # None: every product.
    Column("product_id", BigInteger, ForeignKey("products.id")),
    Column("trigger", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("levels_checked", Integer, nullable=False, server_default="0"),
    Column("discrepancy_count", Integer, nullable=False, server_default="0"),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # None: a check only. DRY_RUN: the repairs were worked out and shown, not written;
    # APPLIED: they were written (see reconciliation_repairs).
    Column("repair", Text),
    CheckConstraint("trigger IN ('MANUAL', 'SCHEDULED')", name="trigger_known"),
    CheckConstraint("repair IS NULL OR repair IN ('DRY_RUN', 'APPLIED')", name="repair_known"),
    Index("ix_reconciliation_runs_trigger", "trigger", "id"),
)

# One row per level x bucket x basis that disagrees. OPEN until a later run covering the
# level supersedes it (then the newer run says what is still wrong).
reconciliation_discrepancies = Table(
    "reconciliation_discrepancies",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger, ForeignKey("reconciliation_runs.id"), nullable=False),
    Column("level_id", BigInteger, nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("warehouse_id", BigInteger, nullable=False),
    Column("bucket", Text, nullable=False),
    # What the expected value comes from: LEDGER (sum of deltas) or RESERVATIONS.
    Column("basis", Text, nullable=False),
    Column("recorded", Integer, nullable=False),
    Column("expected", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default="OPEN"),
    _created(),
    CheckConstraint("status IN ('OPEN', 'SUPERSEDED', 'REPAIRED')", name="status_known"),
    Index("ix_reconciliation_discrepancies_run", "run_id", "id"),
    Index(
        "ix_reconciliation_discrepancies_open",
        "warehouse_id",
        postgresql_where=text("status = 'OPEN'"),
    ),
)

# What a repairing run did (or, a dry run, would do) about each wrong bucket of a level:
# RECORD_OUTSIDE_CHANGE writes to the ledger a change made to the level outside it (the level
# is kept); REBUILD_FROM_RESERVATIONS sets reserved or committed to what the active
# reservations hold. `movement_id`: the ledger row that made it (applied repairs only).
reconciliation_repairs = Table(
    "reconciliation_repairs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger, ForeignKey("reconciliation_runs.id"), nullable=False),
    Column("level_id", BigInteger, nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("warehouse_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("bucket", Text, nullable=False),
    Column("recorded", Integer, nullable=False),
    Column("expected", Integer, nullable=False),
    Column("delta", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("movement_id", BigInteger),
    _created(),
    CheckConstraint(
        "kind IN ('RECORD_OUTSIDE_CHANGE', 'REBUILD_FROM_RESERVATIONS')", name="kind_known"
    ),
    Index("ix_reconciliation_repairs_run", "run_id", "id"),
)

cycle_counts = Table(
    "cycle_counts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("reference_id", Text),
    # When the stock was counted (None: when recorded); differences are taken as of then.
    Column("counted_at", DateTime(timezone=True)),
    Column("actor", Text, nullable=False),
    _created(),
)

CYCLE_COUNT_LINE_STATUSES = ("MATCHED", "APPLIED", "PENDING_REVIEW", "APPROVED", "REJECTED")

cycle_count_lines = Table(
    "cycle_count_lines",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("cycle_count_id", BigInteger, ForeignKey("cycle_counts.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("warehouse_id", BigInteger, nullable=False),
    Column("level_id", BigInteger, nullable=False),
    Column("counted_quantity", Integer, nullable=False),
    # On hand when counted; difference = counted - system.
    Column("system_quantity", Integer, nullable=False),
    Column("difference", Integer, nullable=False),
    Column("status", Text, nullable=False),
    # The CYCLE_COUNT ledger row that applied it (when applied or approved).
    Column("movement_id", BigInteger),
    Column("reviewed_by", Text),
    Column("reviewed_at", DateTime(timezone=True)),
    Column("review_note", Text),
    Column("version", Integer, nullable=False, server_default="1"),
    _created(),
    _updated(),
    CheckConstraint(
        "status IN ('MATCHED', 'APPLIED', 'PENDING_REVIEW', 'APPROVED', 'REJECTED')",
        name="status_known",
    ),
    Index("ix_cycle_count_lines_count", "cycle_count_id", "id"),
    Index("ix_cycle_count_lines_pending", "id", postgresql_where=text("status = 'PENDING_REVIEW'")),
)
