"""Kits (bundles): a product made of other products, in fixed quantities (migration 0014).

A kit has no inventory level of its own (products.is_kit): what it may sell is derived from
its components, and reserving it holds its components (inventory/kits/)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
)

from onhand.db.metadata import metadata

kit_components = Table(
    "kit_components",
    metadata,
    Column("kit_product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("component_product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    # Units of the component in one kit.
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("kit_product_id", "component_product_id"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("kit_product_id <> component_product_id", name="not_itself"),
    # The kits a component is part of (a component's change concerns them).
    Index("ix_kit_components_component", "component_product_id"),
)
