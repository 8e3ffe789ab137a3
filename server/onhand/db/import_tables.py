"""Bulk imports: one row per import job, and the problems found in its file.

The migration 0004 creates these tables; this module is what queries are built from.
"""

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
    func,
    text,
)

from onhand.db.metadata import metadata

# A job is written outside the import's own transaction (so that its progress is visible while
# the import runs, and its errors survive an import that is refused). Whether the import's
# changes were applied is decided by that transaction alone: a job is SUCCEEDED only in it.
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("actor", Text, nullable=False),
    # RUNNING, then SUCCEEDED (applied, or a dry run that would apply) or FAILED.
    Column("status", Text, nullable=False, server_default="RUNNING"),
    # PARSING, VALIDATING, APPLYING, FINISHED: where a running job is.
    Column("phase", Text, nullable=False, server_default="PARSING"),
    Column("mode", Text, nullable=False),
    Column("dry_run", Boolean, nullable=False, server_default=text("false")),
    Column("allow_partial", Boolean, nullable=False, server_default=text("false")),
    Column("create_missing_products", Boolean, nullable=False, server_default=text("false")),
    Column("file_name", Text),
    Column("file_size", BigInteger, nullable=False, server_default="0"),
    Column("file_sha256", Text),
    Column("idempotency_key", Text),
    Column("reason", Text),
    Column("rows_total", Integer, nullable=False, server_default="0"),
    Column("rows_done", Integer, nullable=False, server_default="0"),
    Column("created", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("products_created", Integer, nullable=False, server_default="0"),
    Column("message", Text),
    # Set when this request was a replay of an earlier import with the same idempotency key.
    Column("replay_of", BigInteger, ForeignKey("import_jobs.id")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('RUNNING', 'SUCCEEDED', 'FAILED')", name="status_known"),
    CheckConstraint(
        "phase IN ('PARSING', 'VALIDATING', 'APPLYING', 'FINISHED')", name="phase_known"
    ),
    CheckConstraint("mode IN ('SET', 'ADJUST')", name="mode_known"),
    Index("ix_import_jobs_running", "id", postgresql_where=text("status = 'RUNNING'")),
)

import_errors = Table(
    "import_errors",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", BigInteger, ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False),
    # The file's line (1 is the header) and column; none for problems of the whole file.
    Column("line", Integer),
    Column("column_name", Text),
    Column("code", Text, nullable=False),
    Column("message", Text, nullable=False),
    # The offending value as the file had it.
    Column("value", Text),
    Index("ix_import_errors_job", "job_id", "id"),
)
