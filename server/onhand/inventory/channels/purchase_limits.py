"""Purchase limits: the most units one cart or order reference may hold of a product on a
channel (limited drops, anti-scalping). Set or cleared here by setPurchaseLimit; enforced when
stock is reserved (reservations/limits.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector
from onhand.core.refs import Ref
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from onhand.inventory.refs import resolve_product


@dataclass(frozen=True, slots=True)
class PurchaseLimit:
    channel_id: int
    product_id: int
    max_per_reference: int
    version: int
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> PurchaseLimit:
        return cls(
            row.channel_id, row.product_id, row.max_per_reference, row.version, row.updated_at
        )


@dataclass(frozen=True)
class SetPurchaseLimit:
    channel: ChannelRef
    product: Ref
    # None clears the limit.
    max_per_reference: int | None


_SET = text(
    """
    INSERT INTO purchase_limits AS pl (channel_id, product_id, max_per_reference)
    VALUES (:channel, :product, :limit)
    ON CONFLICT (channel_id, product_id) DO UPDATE SET
        max_per_reference = EXCLUDED.max_per_reference, version = pl.version + 1,
        updated_at = now()
    RETURNING *
    """
)
_CLEAR = text(
    "DELETE FROM purchase_limits WHERE channel_id = :channel AND product_id = :product RETURNING *"
)
_OF = text(
    """
    SELECT * FROM purchase_limits
    WHERE channel_id = ANY(CAST(:channels AS bigint[]))
      AND product_id = ANY(CAST(:products AS bigint[]))
    """
)


async def set_purchase_limit(
    conn: AsyncConnection, request: SetPurchaseLimit
) -> tuple[int, int, PurchaseLimit | None]:
    """The channel and product ids, and the limit now (None: cleared). It applies to
    reservations made after it commits."""
    errors = Collector()
    check.quantity(errors, "maxQuantityPerReference", request.max_per_reference, allow_zero=False)
    errors.raise_if_any()
    channel = await resolve_channel(conn, request.channel)
    product_id = await resolve_product(conn, request.product)
    params = {"channel": channel.id, "product": product_id, "limit": request.max_per_reference}
    if request.max_per_reference is None:
        await conn.execute(_CLEAR, params)
        return channel.id, product_id, None
    row = (await conn.execute(_SET, params)).one()
    return channel.id, product_id, PurchaseLimit.from_row(row)


async def purchase_limits_of(
    conn: AsyncConnection, channel_ids: Sequence[int], product_ids: Sequence[int]
) -> dict[tuple[int, int], PurchaseLimit]:
    rows = await conn.execute(_OF, {"channels": list(channel_ids), "products": list(product_ids)})
    return {(row.channel_id, row.product_id): PurchaseLimit.from_row(row) for row in rows}
