"""Kits: a product made of components in fixed quantities, holding no stock of its own; the
component holds of a kit reservation name the kit.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "products",
        sa.Column("is_kit", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    op.create_table(
        "kit_components",
        sa.Column(
            "kit_product_id",
            sa.BigInteger(),
            sa.ForeignKey("products.id", name=op.f("fk_kit_components_kit_product_id_products")),
            nullable=False,
        ),
        sa.Column(
            "component_product_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "products.id", name=op.f("fk_kit_components_component_product_id_products")
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "kit_product_id", "component_product_id", name=op.f("pk_kit_components")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_kit_components_quantity_positive")),
        sa.CheckConstraint(
            "kit_product_id <> component_product_id", name=op.f("ck_kit_components_not_itself")
        ),
    )
    op.create_index("ix_kit_components_component", "kit_components", ["component_product_id"])
    # Every reservation's locking statement joins this table: analyzed while empty, the
    # planner knows a product has no components, rather than assuming a table of 10 pages.
    op.execute("ANALYZE kit_components")
    op.add_column(
        "reservations",
        sa.Column(
            "kit_reservation_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "reservations.id", name=op.f("fk_reservations_kit_reservation_id_reservations")
            ),
        ),
    )
    op.add_column(
        "reservations",
        sa.Column(
            "kit_product_id",
            sa.BigInteger(),
            sa.ForeignKey("products.id", name=op.f("fk_reservations_kit_product_id_products")),
        ),
    )
    op.add_column("reservations", sa.Column("kit_quantity", sa.Integer()))
    op.create_index(
        "ix_reservations_kit",
        "reservations",
        ["kit_reservation_id"],
        postgresql_where=sa.text("kit_reservation_id IS NOT NULL"),
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
