"""Demand-driven safety buffers: the channels whose buffer is computed from their sales, and
each product's computed buffer with the inputs it came from. The migration 0017 creates
these tables; this module is what queries are built from."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    Table,
    func,
    true,
)

from onhand.db.metadata import metadata

# A channel with a row here (enabled) has its buffer computed per product from its recent
# sales (inventory/channels/demand_buffers.py); the others keep their percent or set buffers.
channel_demand_buffer_settings = Table(
    "channel_demand_buffer_settings",
    metadata,
    Column("channel_id", BigInteger, ForeignKey("channels.id"), primary_key=True),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("service_level", Float, nullable=False),
    Column("lookback_days", Integer, nullable=False),
    Column("lead_time_days", Float, nullable=False),
    Column("minimum", Integer, nullable=False),
    Column("maximum", Integer),
    Column("version", Integer, nullable=False, server_default="1"),
    # The last recomputation of this channel's buffers (the schedule's clock).
    Column("recomputed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "service_level > 0 AND service_level < 1 AND lookback_days > 0"
        " AND lead_time_days > 0 AND minimum >= 0 AND (maximum IS NULL OR maximum >= minimum)",
        name="in_range",
    ),
)

# The last computed buffer of each product on each such channel, with its inputs.
channel_demand_buffers = Table(
    "channel_demand_buffers",
    metadata,
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("product_id", BigInteger, ForeignKey("products.id"), nullable=False),
    Column("buffer", Integer, nullable=False),
    Column("units_sold", Integer, nullable=False),
    Column("mean_daily", Float, nullable=False),
    Column("deviation_daily", Float, nullable=False),
    Column("days", Integer, nullable=False),
    Column("service_level", Float, nullable=False),
    Column("z", Float, nullable=False),
    Column("lead_time_days", Float, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("channel_id", "product_id"),
)
