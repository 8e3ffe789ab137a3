"""The ledger and the outbox are partitioned by month, so that neither slows down as it grows
and old events leave the outbox by dropping a partition instead of a DELETE.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

Each table becomes a range-partitioned parent on its insert time (inventory_movements on
`recorded_at`, outbox on `created_at`, both `now()` when written, so writes always land in
the current month), with one partition per UTC month from the oldest row to two months
ahead, and a DEFAULT partition for anything outside them (workers/partition_upkeep.py keeps
creating the months ahead). The rows are copied in, the names swapped and every index,
trigger, foreign key and grant put back with its old name and definition, on the parent.

What PostgreSQL does not allow on a partitioned table, and how identity is kept instead:
- A unique constraint must include the partition key. The primary keys become (id,
  recorded_at) and (id, created_at); ids still come from one sequence each
  (inventory_movements_id_seq, outbox_id_seq, owned by the new tables), so an id alone
  still names one row, and nothing relies on an index to say so.
- The outbox's uq_outbox_sequence becomes UNIQUE (sequence, created_at), same name. A
  sequence is unique because only the relay gives sequences out, consecutively from
  outbox_cursor, whose row it holds locked while it does (events/relay.py); the index still
  serves every `sequence > :after ORDER BY sequence` read.
- No foreign key points at either table (reconciliation repairs and source events keep
  movement ids as plain numbers), so none had to be dropped; one that did would need the
  partition key in its referenced columns. The ledger's own foreign key to
  inventory_levels is kept: a partitioned table may reference a plain one.
- Statement triggers fire only for statements on the parent. The ledger's append-only
  guard stays there and gains a row-level twin, which PostgreSQL clones onto every
  partition, so an UPDATE or DELETE aimed at a partition directly is refused too.

The copy holds an exclusive lock on both tables for as long as it runs (it rewrites every
row and rebuilds every index): run it in a maintenance window. The downgrade
copies the rows back into plain tables with the old keys.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from alembic import op
from sqlalchemy import text

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 2


@dataclass(frozen=True)
class Partitioned:
    table: str
    key: str  # the time column partitioned on
    # Constraints rebuilt by hand (the others are copied from the catalog as they are).
    primary_key: str
    unique: dict[str, str]  # name -> columns, partitioned form
    unique_plain: dict[str, str]  # name -> columns, as before partitioning
    row_guard: str | None = None  # the row-level append-only trigger (ledger only)


TABLES = (
    Partitioned(
        "inventory_movements",
        "recorded_at",
        "pk_inventory_movements",
        {},
        {},
        row_guard="inventory_movements_rows_append_only",
    ),
    Partitioned(
        "outbox",
        "created_at",
        "pk_outbox",
        {"uq_outbox_sequence": "sequence, created_at"},
        {"uq_outbox_sequence": "sequence"},
    ),
)


def _rows(sql: str, **params: object) -> list[tuple]:
    return [tuple(row) for row in op.get_bind().execute(text(sql), params)]


def _definitions(table: str, keep: set[str]) -> list[str]:
    """The statements that recreate the table's indexes, triggers, foreign keys and grants
    (its primary key and the constraints named in `keep` excepted), read from the catalog so
    that every name and definition comes back as it was."""
    statements = [
        # A partitioned parent's indexes print as ON ONLY: plain tables take them without.
        indexdef.replace(" ON ONLY ", " ON ")
        for (indexdef,) in _rows(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
            "   AND c.conrelid = i.indrelid)"
            " ORDER BY i.indexrelid",
            t=table,
        )
    ]
    statements += [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for name, definition in _rows(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' ORDER BY conname",
            t=table,
        )
    ]
    statements += [
        definition
        for (definition,) in _rows(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal"
            " AND tgparentid = 0 AND tgname <> ALL(CAST(:keep AS text[])) ORDER BY tgname",
            t=table,
            keep=sorted(keep),
        )
    ]
    statements += [
        f"GRANT {privilege} ON {table} TO {grantee}" + (" WITH GRANT OPTION" if grantable else "")
        for grantee, privilege, grantable in _rows(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,"
            " a.privilege_type, a.is_grantable"
            " FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee"
            " WHERE c.oid = CAST(:t AS regclass) AND a.grantee <> c.relowner",
            t=table,
        )
    ]
    return statements


def _referencing(table: str) -> list[str]:
    return [
        name
        for (name,) in _rows(
            "SELECT conname FROM pg_constraint"
            " WHERE confrelid = CAST(:t AS regclass) AND contype = 'f'",
            t=table,
        )
    ]


def _swap(spec: Partitioned, *, partitioned: bool) -> None:
    """Copy `spec.table` into a new table of the other kind under the same name."""
    table, key = spec.table, spec.key
    referencing = _referencing(table)
    if referencing:
        # Nothing references these tables today; a later foreign key would be lost here.
        raise RuntimeError(f"{table} is referenced by {referencing}: drop those first")
    op.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    keep = {spec.row_guard} if spec.row_guard else set()
    recreate = _definitions(table, keep)
    old = f"{table}_before_0019"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    shape = f"(LIKE {old} INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION)"
    if partitioned:
        op.execute(f"CREATE TABLE {table} {shape} PARTITION BY RANGE ({key})")
        _create_partitions(table, old, key)
    else:
        op.execute(f"CREATE TABLE {table} {shape}")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute(f"DROP TABLE {old}")

    columns = f"id, {key}" if partitioned else "id"
    op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{spec.primary_key}" PRIMARY KEY ({columns})')
    for name, unique in (spec.unique if partitioned else spec.unique_plain).items():
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" UNIQUE ({unique})')
    for statement in recreate:
        op.execute(statement)
    if spec.row_guard and partitioned:
        op.execute(
            f"CREATE TRIGGER {spec.row_guard} BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION refuse_ledger_edit()"
        )
    op.execute(f"ANALYZE {table}")


def _create_partitions(table: str, source: str, key: str) -> None:
    """One partition per UTC month from the oldest row in `source` to MONTHS_AHEAD months
    after the newest row or now, whichever is later, and the DEFAULT partition."""
    ((first, last),) = _rows(
        f"SELECT date_trunc('month', coalesce(min({key}), now()) AT TIME ZONE 'UTC'),"
        f" date_trunc('month', greatest(coalesce(max({key}), now()), now()) AT TIME ZONE 'UTC')"
        f"   + make_interval(months => {MONTHS_AHEAD})"
        f" FROM {source}"
    )
    for (month,) in _rows(
        "SELECT to_char(m, 'YYYY-MM') FROM generate_series("
        " CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 month') m",
        first=first,
        last=last,
    ):
        year, number = month.split("-")
        start = f"{month}-01 00:00:00+00"
        end_year, end_month = (int(year) + 1, 1) if number == "12" else (int(year), int(number) + 1)
        end = f"{end_year:04d}-{end_month:02d}-01 00:00:00+00"
        op.execute(
            f"CREATE TABLE {table}_y{year}m{number} PARTITION OF {table}"
            f" FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")


def upgrade() -> None:
    for spec in TABLES:
        _swap(spec, partitioned=True)
    # The highest sequence whose partition was dropped: a reader resuming at or below it may
    # have missed events, whatever the oldest sequence still kept (events/store.py).
    op.execute(
        """
        CREATE TABLE outbox_retention (
            id integer PRIMARY KEY CONSTRAINT ck_outbox_retention_single_row CHECK (id = 1),
            dropped_through bigint NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE outbox_retention")
    for spec in TABLES:
        if spec.row_guard:
            op.execute(f"DROP TRIGGER {spec.row_guard} ON {spec.table}")
        _swap(spec, partitioned=False)
