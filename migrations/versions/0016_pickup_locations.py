"""Click-and-collect: pickup details and an inbound transfer lead time on warehouses, and the
pickup location of reservations made for pickup.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("warehouses", sa.Column("pickup_instructions", sa.Text()))
    op.add_column("warehouses", sa.Column("pickup_hours", sa.Text()))
    op.add_column("warehouses", sa.Column("transfer_lead_hours", sa.Integer()))
    op.create_check_constraint(
        "transfer_lead_hours_not_negative",
        "warehouses",
        "transfer_lead_hours IS NULL OR transfer_lead_hours >= 0",
    )
    op.create_table(
        "reservation_pickups",
        sa.Column("reservation_id", sa.BigInteger(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("reservation_id", name=op.f("pk_reservation_pickups")),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_reservation_pickups_reservation_id_reservations"),
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_reservation_pickups_warehouse_id_warehouses"),
        ),
    )
    op.create_index("ix_reservation_pickups_warehouse", "reservation_pickups", ["warehouse_id"])


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
