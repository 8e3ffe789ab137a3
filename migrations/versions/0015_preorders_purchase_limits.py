"""Preorders up to a cap, converted to order reservations when stock is received; purchase
limits per channel, product and cart or order reference.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE preorder_caps (
            id bigserial CONSTRAINT pk_preorder_caps PRIMARY KEY,
            product_id bigint NOT NULL REFERENCES products (id),
            warehouse_id bigint REFERENCES warehouses (id),
            cap integer NOT NULL CONSTRAINT ck_preorder_caps_cap_not_negative CHECK (cap >= 0),
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_preorder_caps_scope"
        " ON preorder_caps (product_id, coalesce(warehouse_id, 0))"
    )
    op.execute(
        """
        CREATE TABLE preorders (
            id bigserial CONSTRAINT pk_preorders PRIMARY KEY,
            product_id bigint NOT NULL REFERENCES products (id),
            warehouse_id bigint REFERENCES warehouses (id),
            channel_id bigint REFERENCES channels (id),
            quantity integer NOT NULL
                CONSTRAINT ck_preorders_quantity_positive CHECK (quantity > 0),
            reference_id text,
            status text NOT NULL DEFAULT 'ACTIVE'
                CONSTRAINT ck_preorders_status_known
                CHECK (status IN ('ACTIVE', 'CONVERTED', 'RELEASED')),
            reservation_id bigint REFERENCES reservations (id),
            actor text NOT NULL,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            ended_at timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_preorders_waiting ON preorders (product_id, id) WHERE status = 'ACTIVE'"
    )
    op.execute("CREATE INDEX ix_preorders_reference ON preorders (reference_id, id)")
    op.execute(
        """
        CREATE TABLE purchase_limits (
            channel_id bigint NOT NULL REFERENCES channels (id),
            product_id bigint NOT NULL REFERENCES products (id),
            max_per_reference integer NOT NULL
                CONSTRAINT ck_purchase_limits_limit_positive CHECK (max_per_reference > 0),
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_purchase_limits PRIMARY KEY (channel_id, product_id)
        )
        """
    )


def downgrade() -> None:
    raise NotImplementedError("onhand migrations only go forward")
