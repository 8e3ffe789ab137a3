"""Sales channels, what each may sell (allocations), and reservations.

The migration 0002 creates these tables; this module is what queries are built from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from onhand.db.metadata import metadata
from onhand.db.tables import inventory_movements, products


def _timestamps() -> list[Column]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


channels = Table(
    "channels",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    # REALTIME channels (storefronts, POS) reserve live; BATCH ones (marketplaces) pull or are
    # pushed their available-to-sell every sync interval.
    Column("kind", Text, nullable=False, server_default="REALTIME"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("safety_buffer_percent", Float, nullable=False, server_default="5"),
    Column("oversell_protection", Boolean, nullable=False, server_default=text("true")),
    Column("sync_interval_minutes", Float, nullable=False, server_default="15"),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    CheckConstraint("kind IN ('REALTIME', 'BATCH')", name="kind_known"),
    CheckConstraint(
        "safety_buffer_percent >= 0 AND safety_buffer_percent <= 100", name="buffer_percent"
    ),
    CheckConstraint("sync_interval_minutes > 0", name="sync_interval_positive"),
)

# The warehouses whose stock a channel sells.
channel_warehouses = Table(
    "channel_warehouses",
    metadata,
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    PrimaryKeyConstraint("channel_id", "warehouse_id"),
    Index("ix_channel_warehouses_warehouse", "warehouse_id"),
)

# One row per channel x product that has an allocation or has ever held stock. `allocated`
# NULL means no allocation: the channel sells from its warehouses' stock, less its safety
# buffer percent. `held` is what the channel holds through active reservations (reserved and
# committed); reservations change it under this row's lock, which is also what serializes
# concurrent reservations of one product on one channel.
channel_inventory = Table(
    "channel_inventory",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("allocated", Integer),
    Column("buffer", Integer),
    Column("held", Integer, nullable=False, server_default="0"),
    # When the channel was first given an allocation of this product (unsold-stock age).
    Column("allocated_since", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    UniqueConstraint("channel_id", "product_id"),
    Index("ix_channel_inventory_product", "product_id"),
    CheckConstraint(
        "(allocated IS NULL OR allocated >= 0) AND (buffer IS NULL OR buffer >= 0) AND held >= 0",
        name="quantities_not_negative",
    ),
    postgresql_with={"fillfactor": 70},
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="ACTIVE"),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("warehouse_id", BigInteger, ForeignKey("warehouses.id"), nullable=False),
    Column("channel_id", BigInteger, ForeignKey("channels.id")),
    # Units reserved; while ACTIVE the reservation holds quantity - fulfilled_quantity.
    Column("quantity", Integer, nullable=False),
    Column("fulfilled_quantity", Integer, nullable=False, server_default="0"),
    Column("reference_id", Text),
    # The cart a converted order reservation came from.
    Column("cart_reference_id", Text),
    Column("variant_id", Text),
    Column("expires_at", DateTime(timezone=True)),
    Column("actor", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    *_timestamps(),
    Column("ended_at", DateTime(timezone=True)),
    # A component's hold of a kit reservation: the kit's reservation (its first component
    # hold, which names itself), the kit, and this component's units per kit.
    Column("kit_reservation_id", BigInteger, ForeignKey("reservations.id")),
    Column("kit_product_id", BigInteger, ForeignKey("products.id")),
    Column("kit_quantity", Integer),
    CheckConstraint("type IN ('CART', 'ORDER', 'TRANSFER')", name="type_known"),
    CheckConstraint(
        "status IN ('ACTIVE', 'RELEASED', 'EXPIRED', 'FULFILLED')", name="status_known"
    ),
    CheckConstraint(
        "quantity > 0 AND fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity",
        name="quantities_in_range",
    ),
    CheckConstraint("type <> 'ORDER' OR expires_at IS NULL", name="orders_never_expire"),
    # The sweeper's queue: active reservations by expiry.
    Index(
        "ix_reservations_expiry",
        "expires_at",
        postgresql_where=text("status = 'ACTIVE' AND expires_at IS NOT NULL"),
    ),
    Index("ix_reservations_reference", "reference_id", "id"),
    Index(
        "ix_reservations_active_level",
        "product_id",
        "warehouse_id",
        postgresql_where=text("status = 'ACTIVE'"),
    ),
    Index("ix_reservations_channel", "channel_id", "id"),
    Index(
        "ix_reservations_kit",
        "kit_reservation_id",
        postgresql_where=text("kit_reservation_id IS NOT NULL"),
    ),
)

# Clients name products by their platform's variant id (createReservation's variantId); only
# the products that have one (migration 0026).
Index(
    "ix_products_external_variant_id",
    products.c.external_variant_id,
    postgresql_where=text("external_variant_id IS NOT NULL"),
)
# A reservation's ledger rows (its audit trail).
Index(
    "ix_inventory_movements_reservation",
    inventory_movements.c.reservation_id,
    postgresql_where=inventory_movements.c.reservation_id.is_not(None),
)
