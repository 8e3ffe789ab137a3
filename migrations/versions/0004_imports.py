"""Import jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    default = None if nullable else sa.text("now()")
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="RUNNING", nullable=False),
        sa.Column("phase", sa.Text(), server_default="PARSING", nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("allow_partial", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "create_missing_products",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("file_sha256", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _counter("rows_total"),
        _counter("rows_done"),
        _counter("created"),
        _counter("updated"),
        _counter("unchanged"),
        _counter("failed"),
        _counter("products_created"),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("replay_of", sa.BigInteger(), nullable=True),
        _timestamp("created_at"),
        _timestamp("heartbeat_at"),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
        sa.ForeignKeyConstraint(
            ["replay_of"], ["import_jobs.id"], name=op.f("fk_import_jobs_replay_of_import_jobs")
        ),
        sa.CheckConstraint(
            "status IN ('RUNNING', 'SUCCEEDED', 'FAILED')", name=op.f("ck_import_jobs_status_known")
        ),
        sa.CheckConstraint(
            "phase IN ('PARSING', 'VALIDATING', 'APPLYING', 'FINISHED')",
            name=op.f("ck_import_jobs_phase_known"),
        ),
        sa.CheckConstraint("mode IN ('SET', 'ADJUST')", name=op.f("ck_import_jobs_mode_known")),
    )
    # Running jobs are checked for a dead process on every read of them: keep that cheap.
    op.create_index(
        "ix_import_jobs_running",
        "import_jobs",
        ["id"],
        postgresql_where=sa.text("status = 'RUNNING'"),
    )
    op.create_table(
        "import_errors",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("column_name", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_errors")),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_errors_job_id_import_jobs"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_import_errors_job", "import_errors", ["job_id", "id"])


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
