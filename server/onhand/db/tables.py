"""Core tables: warehouses, products, inventory levels, the ledger, the outbox, idempotency
keys and API tokens. The migrations create them; this module is what queries are built from."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.types import UserDefinedType

from onhand.db.metadata import metadata


class XID8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id, comparable with pg_snapshot_xmin()."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


def _timestamps() -> list[Column]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


warehouses = Table(
    "warehouses",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("street", Text),
    Column("city", Text),
    Column("state", Text),
    Column("postal_code", Text),
    Column("country", Text),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("timezone", Text, nullable=False, server_default="UTC"),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("capabilities", ARRAY(Text), nullable=False, server_default="{}"),
    Column("allow_backorders", Boolean, nullable=False, server_default=text("false")),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    # Click-and-collect (migration 0016): what a customer collecting here is told, and how
    # many hours stock transferred in from another warehouse takes to be ready here (NULL:
    # transfers in are not offered for pickup).
    Column("pickup_instructions", Text),
    Column("pickup_hours", Text),
    Column("transfer_lead_hours", Integer),
    CheckConstraint(
        "transfer_lead_hours IS NULL OR transfer_lead_hours >= 0",
        name="transfer_lead_hours_not_negative",
    ),
)

products = Table(
    "products",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("sku", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("external_product_id", Text),
    Column("external_variant_id", Text),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    # A kit holds no stock of its own: it is made of its components (kit_tables.py).
    Column("is_kit", Boolean, nullable=False, server_default=text("false")),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    # Only the products that carry a platform's ids (migration 0026): an imported catalog
    # mostly has none.
    Index(
        "ix_products_external_ids",
        "external_product_id",
        "external_variant_id",
        postgresql_where=text("external_product_id IS NOT NULL"),
    ),
)

# The stock buckets of a level, in the order the ledger records them.
BUCKETS = ("on_hand", "reserved", "committed", "incoming", "damaged", "quarantined", "safety_stock")

inventory_levels = Table(
    "inventory_levels",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    Column("committed", Integer, nullable=False, server_default="0"),
    Column("incoming", Integer, nullable=False, server_default="0"),
    Column("damaged", Integer, nullable=False, server_default="0"),
    Column("quarantined", Integer, nullable=False, server_default="0"),
    Column("safety_stock", Integer, nullable=False, server_default="0"),
    Column("reorder_point", Integer, nullable=False, server_default="0"),
    Column("reorder_quantity", Integer, nullable=False, server_default="0"),
    Column(
        "available",
        Integer,
        Computed(
            "on_hand - reserved - committed - damaged - quarantined - safety_stock", persisted=True
        ),
    ),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    UniqueConstraint("product_id", "warehouse_id"),
    Index("ix_inventory_levels_warehouse_product", "warehouse_id", "product_id"),
    # Held buckets never go negative, backorders or not; on_hand may only with backorders,
    # which the ledger decides per warehouse.
    CheckConstraint(
        "reserved >= 0 AND committed >= 0 AND incoming >= 0 AND damaged >= 0"
        " AND quarantined >= 0 AND safety_stock >= 0 AND reorder_point >= 0"
        " AND reorder_quantity >= 0",
        name="buckets_not_negative",
    ),
)

# The ledger: one immutable row per movement (a trigger refuses UPDATE and DELETE).
# Each bucket has its delta (d_*) and its value after the movement; before = after - delta.
# Partitioned by month on recorded_at (migration 0019): the database's primary key is
# (id, recorded_at), as PostgreSQL requires of a partitioned table; ids come from one
# sequence, so an id alone names one movement, and that is the key queries use.
inventory_movements = Table(
    "inventory_movements",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("change_id", BigInteger, nullable=False),
    Column("level_id", BigInteger, ForeignKey("inventory_levels.id"), nullable=False),
    Column("product_id", BigInteger, nullable=False),
    Column("warehouse_id", BigInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("reason", Text),
    Column("source", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reference_id", Text),
    Column("correlation_id", Text),
    Column("channel_id", BigInteger),
    Column("reservation_id", BigInteger),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    *[Column(f"d_{bucket}", Integer, nullable=False, server_default="0") for bucket in BUCKETS],
    *[Column(bucket, Integer, nullable=False) for bucket in BUCKETS],
    Column("metadata", JSONB),
    Index("ix_inventory_movements_product", "product_id", "id"),
    Index("ix_inventory_movements_warehouse", "warehouse_id", "id"),
    Index("ix_inventory_movements_level", "level_id", "id"),
    # Only the movements their readers ask for (migration 0025): those with a reference, and
    # those with a channel.
    Index(
        "ix_inventory_movements_reference",
        "reference_id",
        postgresql_where=text("reference_id IS NOT NULL"),
    ),
    Index("ix_inventory_movements_recorded_at", "recorded_at"),
    Index(
        "ix_inventory_movements_channel_sales",
        "channel_id",
        "product_id",
        "occurred_at",
        postgresql_where=text("channel_id IS NOT NULL"),
    ),
)

# Events written in the same transaction as the change that caused them. `sequence` is given
# by the relay when it publishes, in commit-safe order (see events/relay.py); `txid` is the
# writing transaction, which tells the relay when every earlier writer has finished.
# Partitioned by month on created_at (migration 0019), so the database's keys include it:
# (id, created_at), and uq_outbox_sequence is UNIQUE (sequence, created_at). A sequence is
# unique all the same: only the relay gives them out, consecutively, from outbox_cursor. That
# index leaves out the unpublished (migration 0024): every event is written before it has a
# sequence, and readers ask for ranges of sequences, which are never NULL.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("txid", XID8, nullable=False, server_default=text("pg_current_xact_id()")),
    Column("sequence", BigInteger),
    Column("topic", Text, nullable=False),
    # json, not jsonb: written once and read whole (migration 0023).
    Column("payload", JSON, nullable=False),
    Column("product_id", BigInteger),
    Column("warehouse_id", BigInteger),
    Column("channel_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Index(
        "uq_outbox_sequence",
        "sequence",
        "created_at",
        unique=True,
        postgresql_where=text("sequence IS NOT NULL"),
    ),
    Index("ix_outbox_unpublished", "id", postgresql_where=text("sequence IS NULL")),
    # The relay's "first event of a still-running writer": found without reading every
    # unpublished event, however large the backlog (a big import leaves 200,000).
    Index("ix_outbox_unpublished_txid", "txid", postgresql_where=text("sequence IS NULL")),
)

# Keys are the caller's: two tokens may use the same key without meeting.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("actor", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("operation", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("result", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("channel_id", BigInteger),
    # The source system the token posts events as (recordInventoryEvents), when bound to one.
    Column("source_system", Text),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("token_prefix", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Written in batches by each server process (auth/usage.py), so it may lag a little.
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    # When the token stops working (NULL: never); a rotation may move it.
    Column("expires_at", DateTime(timezone=True)),
    # The secret a rotation replaced, still accepted until previous_expires_at (see
    # auth/tokens.py, rotate_token, for why one more column pair and not a row per secret).
    Column("previous_token_hash", LargeBinary, unique=True),
    Column("previous_token_prefix", Text),
    Column("previous_expires_at", DateTime(timezone=True)),
)
