"""Channel allocations: how much of a product each channel may sell at most, and the buffer it
keeps back. Set one by one (setChannelInventory, version-checked), by strategy for many
products at once (allocateInventoryToChannels), or moved from channels where it sat unsold to
the ones that sell fastest (reallocateUnsoldInventory).

Allocations are edited under the channel x product row lock, the same lock reservations take,
so a reservation never judges against a half-written allocation. Every edit bumps the row's
version and appends a CHANNEL_ALLOCATION_CHANGED event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.events.outbox import Event, Topic, append
from onhand.inventory.channels.availability import ChannelAvailability, availability
from onhand.inventory.channels.registry import ChannelRef, resolve_channel
from onhand.inventory.kits.events import announce_on_channels
from onhand.inventory.refs import resolve_product

KEEP: Any = object()  # a value the caller did not give: left as it is


@dataclass(frozen=True)
class SetAllocation:
    product: Ref
    channel: ChannelRef
    allocated: int | None = KEEP  # None removes the allocation
    buffer: int | None = KEEP  # None: the default buffer
    expected_version: int | None = None
    variant_id: str | None = None


@dataclass
class AllocationRow:
    channel_id: int
    product_id: int
    allocated: int | None
    buffer: int | None
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


LOCK = text(
    """
    SELECT * FROM channel_inventory
    WHERE channel_id = ANY(CAST(:channels AS bigint[]))
      AND product_id = ANY(CAST(:products AS bigint[]))
    ORDER BY channel_id, product_id
    FOR UPDATE
    """
)
# Writes allocations (rows in channel, product order, as every path locks them).
_WRITE = text(
    """
    WITH w AS (
        SELECT * FROM unnest(CAST(:channel_id AS bigint[]), CAST(:product_id AS bigint[]),
            CAST(:allocated AS int[]), CAST(:buffer AS int[]))
            AS w(channel_id, product_id, allocated, buffer)
        ORDER BY channel_id, product_id
    )
    INSERT INTO channel_inventory AS ci (channel_id, product_id, allocated, buffer,
        allocated_since)
    SELECT channel_id, product_id, allocated, buffer,
        CASE WHEN allocated IS NOT NULL THEN now() END
    FROM w
    ON CONFLICT (channel_id, product_id) DO UPDATE SET
        allocated = EXCLUDED.allocated,
        buffer = EXCLUDED.buffer,
        allocated_since = CASE WHEN EXCLUDED.allocated IS NULL THEN NULL
            ELSE coalesce(ci.allocated_since, now()) END,
        version = ci.version + 1,
        updated_at = now()
    RETURNING ci.channel_id, ci.product_id, ci.allocated, ci.buffer, ci.version
    """
)


async def set_allocation(conn: AsyncConnection, request: SetAllocation) -> ChannelAvailability:
    errors = Collector()
    for name, value in (
        ("allocatedQuantity", request.allocated),
        ("bufferQuantity", request.buffer),
    ):
        if value is not KEEP:
            check.quantity(errors, name, value)
    if request.allocated is KEEP and request.buffer is KEEP:
        errors.add(
            ErrorCode.REQUIRED,
            "give allocatedQuantity, bufferQuantity or both",
            "allocatedQuantity",
        )
    errors.raise_if_any()
    product_id = await resolve_product(conn, request.product)
    channel = await resolve_channel(conn, request.channel)
    if request.variant_id is not None:
        await check_variant(conn, product_id, request.variant_id)
    found = (await conn.execute(LOCK, {"channels": [channel.id], "products": [product_id]})).all()
    current = found[0] if found else None
    version = current.version if current is not None else 0
    if request.expected_version is not None and request.expected_version != version:
        raise DomainError.of(
            ErrorCode.VERSION_CONFLICT,
            f"this allocation is at version {version}, not {request.expected_version}",
            "expectedVersion",
            current_version=version,
        )
    allocated = (
        request.allocated
        if request.allocated is not KEEP
        else (current.allocated if current else None)
    )
    buffer = request.buffer if request.buffer is not KEEP else (current.buffer if current else None)
    await write_allocations(conn, [AllocationRow(channel.id, product_id, allocated, buffer, "SET")])
    return (await availability(conn, [channel], [product_id]))[(channel.id, product_id)]


async def check_variant(conn: AsyncConnection, product_id: int, variant_id: str) -> None:
    found = (
        await conn.execute(
            text("SELECT external_variant_id FROM products WHERE id = :id"), {"id": product_id}
        )
    ).scalar()
    if found != variant_id:
        raise DomainError.of(
            ErrorCode.INVALID,
            f"variantId {variant_id!r} is not this product's variant",
            "variantId",
        )


async def write_allocations(conn: AsyncConnection, rows: Sequence[AllocationRow]) -> None:
    if not rows:
        return
    ordered = sorted(rows, key=lambda r: (r.channel_id, r.product_id))
    written = (
        await conn.execute(
            _WRITE,
            {
                "channel_id": [r.channel_id for r in ordered],
                "product_id": [r.product_id for r in ordered],
                "allocated": [r.allocated for r in ordered],
                "buffer": [r.buffer for r in ordered],
            },
        )
    ).all()
    versions = {(w.channel_id, w.product_id): w.version for w in written}
    await append(
        conn,
        [
            Event(
                Topic.CHANNEL_ALLOCATION_CHANGED,
                {
                    "channelId": r.channel_id,
                    "productId": r.product_id,
                    "allocated": r.allocated,
                    "buffer": r.buffer,
                    "version": versions[(r.channel_id, r.product_id)],
                    "reason": r.reason,
                    **r.extra,
                },
                product_id=r.product_id,
                channel_id=r.channel_id,
            )
            for r in ordered
        ],
    )
    await announce_on_channels(conn, [(r.channel_id, r.product_id) for r in ordered])
