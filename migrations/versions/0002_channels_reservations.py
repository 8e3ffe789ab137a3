"""Channels, allocations and reservations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), server_default="REALTIME", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("safety_buffer_percent", sa.Float(), server_default="5", nullable=False),
        sa.Column(
            "oversell_protection", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("sync_interval_minutes", sa.Float(), server_default="15", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("code", name=op.f("uq_channels_code")),
        sa.CheckConstraint("kind IN ('REALTIME', 'BATCH')", name=op.f("ck_channels_kind_known")),
        sa.CheckConstraint(
            "safety_buffer_percent >= 0 AND safety_buffer_percent <= 100",
            name=op.f("ck_channels_buffer_percent"),
        ),
        sa.CheckConstraint(
            "sync_interval_minutes > 0", name=op.f("ck_channels_sync_interval_positive")
        ),
    )
    op.create_table(
        "channel_warehouses",
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "warehouse_id", name=op.f("pk_channel_warehouses")),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_warehouses_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_channel_warehouses_warehouse_id_warehouses"),
        ),
    )
    op.create_index("ix_channel_warehouses_warehouse", "channel_warehouses", ["warehouse_id"])
    op.create_table(
        "channel_inventory",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=True),
        sa.Column("buffer", sa.Integer(), nullable=True),
        sa.Column("held", sa.Integer(), server_default="0", nullable=False),
        sa.Column("allocated_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_inventory")),
        sa.UniqueConstraint(
            "channel_id", "product_id", name=op.f("uq_channel_inventory_channel_id_product_id")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_inventory_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_channel_inventory_product_id_products")
        ),
        sa.CheckConstraint(
            "(allocated IS NULL OR allocated >= 0) AND (buffer IS NULL OR buffer >= 0)"
            " AND held >= 0",
            name=op.f("ck_channel_inventory_quantities_not_negative"),
        ),
        # Room on each page for updated rows (held changes with every reservation), so that
        # updates stay on the page without touching the indexes (HOT updates).
        postgresql_with={"fillfactor": 70},
    )
    op.create_index("ix_channel_inventory_product", "channel_inventory", ["product_id"])
    op.create_table(
        "reservations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="ACTIVE", nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("fulfilled_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reference_id", sa.Text(), nullable=True),
        sa.Column("cart_reference_id", sa.Text(), nullable=True),
        sa.Column("variant_id", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        *_timestamps(),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_reservations_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_reservations_warehouse_id_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_reservations_channel_id_channels")
        ),
        sa.CheckConstraint(
            "type IN ('CART', 'ORDER', 'TRANSFER')", name=op.f("ck_reservations_type_known")
        ),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'RELEASED', 'EXPIRED', 'FULFILLED')",
            name=op.f("ck_reservations_status_known"),
        ),
        sa.CheckConstraint(
            "quantity > 0 AND fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity",
            name=op.f("ck_reservations_quantities_in_range"),
        ),
        sa.CheckConstraint(
            "type <> 'ORDER' OR expires_at IS NULL",
            name=op.f("ck_reservations_orders_never_expire"),
        ),
    )
    op.create_index(
        "ix_reservations_expiry",
        "reservations",
        ["expires_at"],
        postgresql_where=sa.text("status = 'ACTIVE' AND expires_at IS NOT NULL"),
    )
    op.create_index("ix_reservations_reference", "reservations", ["reference_id", "id"])
    op.create_index(
        "ix_reservations_active_level",
        "reservations",
        ["product_id", "warehouse_id"],
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )
    op.create_index("ix_reservations_channel", "reservations", ["channel_id", "id"])
    op.create_index("ix_products_external_variant_id", "products", ["external_variant_id"])
    op.create_index(
        "ix_inventory_movements_reservation",
        "inventory_movements",
        ["reservation_id"],
        postgresql_where=sa.text("reservation_id IS NOT NULL"),
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
