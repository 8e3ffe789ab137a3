"""The products' indexes on a platform's ids keep only the products that have them:

- ix_products_external_variant_id: products with a variant id (createReservation's
  variantId asks for one, which implies NOT NULL);
- ix_products_external_ids: products with a platform product id.

A catalog created by an import or by SKU alone has neither, and every such product was
written into both for nothing: two of its four index entries.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE_VARIANT = "CREATE INDEX ix_products_external_variant_id ON products (external_variant_id)"
_CREATE_IDS = (
    "CREATE INDEX ix_products_external_ids ON products (external_product_id, external_variant_id)"
)


def upgrade() -> None:
    op.execute("DROP INDEX ix_products_external_variant_id")
    op.execute(f"{_CREATE_VARIANT} WHERE external_variant_id IS NOT NULL")
    op.execute("DROP INDEX ix_products_external_ids")
    op.execute(f"{_CREATE_IDS} WHERE external_product_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_products_external_variant_id")
    op.execute(_CREATE_VARIANT)
    op.execute("DROP INDEX ix_products_external_ids")
    op.execute(_CREATE_IDS)
