"""Preorders (units promised before stock exists, up to a cap) and purchase limits (how many
units one cart or order may take of a product on a channel).

The migration 0015 creates these tables; this module is what queries are built from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)

from onhand.db.metadata import metadata


def _timestamps() -> list[Column]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


# How many units of a product may be preordered: across the product (warehouse_id NULL) or at
# one level. What is preordered is the sum of the active preorders in the cap's scope, never
# a counter, so it cannot drift; a preorder locks its cap row to count and add under the lock.
preorder_caps = Table(
    "preorder_caps",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id")),
    Column("cap", Integer, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    CheckConstraint("cap >= 0", name="cap_not_negative"),
    # One cap per product, and one per level (NULL is the product-wide one).
    Index(
        "ux_preorder_caps_scope",
        "product_id",
        text("coalesce(warehouse_id, 0)"),
        unique=True,
    ),
)

# A preorder holds no stock: it counts against its cap until stock is received, when it
# becomes an ORDER reservation (reservation_id) in the receipt's transaction, oldest first.
preorders = Table(
    "preorders",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    # The level it waits at; NULL: whichever warehouse (of its channel) receives first.
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id")),
    Column("channel_id", BigInteger, ForeignKey("channels.id")),
    Column("quantity", Integer, nullable=False),
    Column("reference_id", Text),
    Column("status", Text, nullable=False, server_default="ACTIVE"),
    Column("reservation_id", BigInteger, ForeignKey("reservations.id")),
    Column("actor", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    Column("ended_at", DateTime(timezone=True)),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("status IN ('ACTIVE', 'CONVERTED', 'RELEASED')", name="status_known"),
    # Waiting preorders of a product, oldest first: what a receipt converts, and the ledger's
    # cheap test of whether a receipt has anything to convert.
    Index(
        "ix_preorders_waiting",
        "product_id",
        "id",
        postgresql_where=text("status = 'ACTIVE'"),
    ),
    Index("ix_preorders_reference", "reference_id", "id"),
)

# The most units one reference (a cart or an order) may hold of a product on a channel,
# counting its active and fulfilled reservations there.
purchase_limits = Table(
    "purchase_limits",
    metadata,
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("max_per_reference", Integer, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    PrimaryKeyConstraint("channel_id", "product_id"),
    CheckConstraint("max_per_reference > 0", name="limit_positive"),
)
