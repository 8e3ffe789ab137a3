"""A channel's change feed: what a connector must send its marketplace.

The outbox is the change log. A product's available-to-sell (ATS) on a channel changes when an
event touches it at one of the channel's warehouses (stock moved, reserved, released) or names
the channel itself (its allocation, buffer or holds changed). A feed page lists each changed
product ONCE with its CURRENT ATS, read in bulk, so a connector never replays intermediate
values and never misses the latest one.

Cursors:
- a feed cursor is an outbox sequence, written as its decimal digits. It never passes the
  relay's published watermark (outbox_cursor.last_sequence): the relay numbers events only once
  no older transaction can still commit below them, so every change at or before a handed-out
  cursor is already in the outbox;
- a snapshot in progress (the first sync, no cursor) pages through the channel's products by id
  with `snapshot:<watermark>:<last product id>`; its last page hands out the watermark taken
  when the snapshot began, so changes made while it was read are sent again, never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode
from onhand.events import store
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.events.payloads import global_id
from onhand.inventory.channels import availability
from onhand.inventory.channels.registry import Channel

# Events that can change what a channel may sell of a product.
TOPICS = (
    Topic.INVENTORY_UPDATED.value,
    Topic.RESERVATION_CHANGED.value,
    Topic.CHANNEL_ALLOCATION_CHANGED.value,
    Topic.KIT_AVAILABILITY_CHANGED.value,
)
SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a feed reader is: `sequence` (the feed), or inside a snapshot taken at
    `sequence` after product `product_id`."""

    sequence: int
    product_id: int | None = None

    @property
    def in_snapshot(self) -> bool:
        return self.product_id is not None

    def __str__(self) -> str:
        if self.product_id is None:
            return str(self.sequence)
        return f"{SNAPSHOT}:{self.sequence}:{self.product_id}"

    @classmethod
    def parse(cls, value: str, field: str = "after") -> Cursor:
        try:
            if value.startswith(f"{SNAPSHOT}:"):
                _, sequence, product = value.split(":")
                cursor = cls(int(sequence), int(product))
            else:
                cursor = cls(int(value))
        except ValueError:
            raise DomainError.of(
                ErrorCode.INVALID, f"{field} is not a cursor this feed handed out", field
            ) from None
        if cursor.sequence < 0 or (cursor.product_id is not None and cursor.product_id < 0):
            raise DomainError.of(ErrorCode.INVALID, f"{field} may not be negative", field)
        return cursor


@dataclass(frozen=True, slots=True)
class FeedItem:
    product_id: int
    sku: str
    available_to_sell: int

    def to_json(self) -> dict[str, Any]:
        """As pushed batches and the feed's compact `entries` carry it."""
        return {
            "productId": global_id("Product", self.product_id),
            "sku": self.sku,
            "availableToSell": self.available_to_sell,
        }


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[FeedItem]
    cursor: Cursor
    has_more: bool
    snapshot: bool


def concerns(event: Published, channel_id: int, warehouse_ids: frozenset[int]) -> bool:
    """Whether an event can change the channel's ATS of its product (the feed's rule, for
    events one at a time)."""
    if event.product_id is None or event.topic not in TOPICS:
        return False
    return event.channel_id == channel_id or event.warehouse_id in warehouse_ids


# Each product changed in (after, until], with the last sequence that changed it. Ordered by
# that sequence, the first `limit` products are exactly those whose changes all lie at or
# before the limit-th one's last: that is the page's cursor, and a product changed both before
# and after it is left to the next page, so paging lists each product once.
_CHANGED = text(
    """
    SELECT o.product_id, max(o.sequence) AS last_sequence
    FROM outbox o
    WHERE o.sequence > :after AND o.sequence <= :until
      AND o.product_id IS NOT NULL
      AND o.topic = ANY(CAST(:topics AS text[]))
      AND (o.channel_id = :channel OR o.warehouse_id IN (
          SELECT warehouse_id FROM channel_warehouses WHERE channel_id = :channel))
    GROUP BY o.product_id
    ORDER BY last_sequence
    LIMIT :limit
    """
)
_COUNT_CHANGED = text(
    """
    SELECT count(DISTINCT o.product_id)
    FROM outbox o
    WHERE o.sequence > :after AND o.sequence <= :until
      AND o.product_id IS NOT NULL
      AND o.topic = ANY(CAST(:topics AS text[]))
      AND (o.channel_id = :channel OR o.warehouse_id IN (
          SELECT warehouse_id FROM channel_warehouses WHERE channel_id = :channel))
    """
)

# The inputs of a channel's ATS for many products in one statement, so that a 48,000-product
# snapshot is one pass of the database; `availability.available_to_sell` applies the formula.
# `:products` NULL: the page of every product the channel can sell (stocked at one of its
# active warehouses, or allocated to it) after `:after`.
_ITEMS = text(
    """
    WITH linked AS (
        SELECT cw.warehouse_id FROM channel_warehouses cw
        JOIN warehouses w ON w.id = cw.warehouse_id AND w.is_active
        WHERE cw.channel_id = :channel
    ),
    candidates AS (
        SELECT product_id FROM unnest(CAST(:products AS bigint[])) AS product_id
        WHERE CAST(:products AS bigint[]) IS NOT NULL
        UNION ALL
        (SELECT product_id FROM (
            SELECT l.product_id FROM inventory_levels l
            WHERE l.warehouse_id IN (SELECT warehouse_id FROM linked)
              AND l.product_id > :after
            UNION
            SELECT ci.product_id FROM channel_inventory ci
            WHERE ci.channel_id = :channel AND ci.product_id > :after
            UNION
            SELECT k.kit_product_id FROM kit_components k
            JOIN inventory_levels l ON l.product_id = k.component_product_id
            WHERE l.warehouse_id IN (SELECT warehouse_id FROM linked)
              AND k.kit_product_id > :after
         ) sellable
         WHERE CAST(:products AS bigint[]) IS NULL
         ORDER BY product_id LIMIT :limit)
    ),
    stocked AS (
        SELECT l.product_id, sum(greatest(l.available, 0)) AS physical
        FROM inventory_levels l
        WHERE l.product_id IN (SELECT product_id FROM candidates)
          AND l.warehouse_id IN (SELECT warehouse_id FROM linked)
        GROUP BY l.product_id
    )
    SELECT c.product_id, p.sku, p.is_active, CAST(coalesce(s.physical, 0) AS bigint),
        ci.allocated, ci.buffer, coalesce(ci.held, 0), p.is_kit
    FROM candidates c
    JOIN products p ON p.id = c.product_id
    LEFT JOIN stocked s ON s.product_id = c.product_id
    LEFT JOIN channel_inventory ci ON ci.channel_id = :channel AND ci.product_id = c.product_id
    ORDER BY c.product_id
    """
)


async def _items(
    conn: AsyncConnection,
    channel: Channel,
    *,
    products: Sequence[int] | None = None,
    after: int = 0,
    limit: int = 0,
) -> list[FeedItem]:
    rows = (
        await conn.execute(
            _ITEMS,
            {
                "channel": channel.id,
                "products": list(products) if products is not None else None,
                "after": after,
                "limit": limit,
            },
        )
    ).all()
    # Converted once for the whole page, as availability.percent_of would for each product.
    percent = Decimal(str(channel.safety_buffer_percent))
    formula = availability.available_to_sell
    items = [
        FeedItem(
            product_id,
            sku,
            formula(physical, allocated, buffer, held, percent, sells=channel.is_active and active),
        )
        for product_id, sku, active, physical, allocated, buffer, held, _ in rows
    ]
    kits = [row.product_id for row in rows if row.is_kit]
    if not kits:
        return items
    # A kit's ATS is derived from its components' (kits/availability.py).
    derived = await availability.availability(conn, [channel], kits)
    return [
        FeedItem(
            item.product_id, item.sku, derived[(channel.id, item.product_id)].available_to_sell
        )
        if (channel.id, item.product_id) in derived
        else item
        for item in items
    ]


async def watermark(conn: AsyncConnection) -> int:
    """The newest sequence safe to hand out: every event up to it is published."""
    return await store.latest_sequence(conn)


async def check_cursor(conn: AsyncConnection, sequence: int, newest: int, field: str) -> None:
    """A cursor must be one this feed could have handed out and still be able to continue."""
    if sequence > newest:
        raise DomainError.of(
            ErrorCode.INVALID,
            f"{field} {sequence} is ahead of the feed (newest: {newest})",
            field,
        )
    kept = await store.lost_after(conn, sequence)
    if kept is not None:  # events after the cursor passed retention: changes would be missed
        raise DomainError.of(
            ErrorCode.CURSOR_EXPIRED,
            f"changes after {sequence} are no longer kept (oldest: {kept}); "
            "take a new snapshot (omit the cursor)",
            field,
            oldest=kept,
        )


async def changed_products(
    conn: AsyncConnection, channel_id: int, after: int, until: int, limit: int
) -> tuple[list[int], int, bool]:
    """Up to `limit` products changed in (after, until], the cursor that covers exactly their
    changes, and whether more are waiting."""
    rows = (
        await conn.execute(
            _CHANGED,
            {
                "after": after,
                "until": until,
                "topics": list(TOPICS),
                "channel": channel_id,
                "limit": limit + 1,
            },
        )
    ).all()
    if len(rows) <= limit:
        return [r.product_id for r in rows], until, False
    return [r.product_id for r in rows[:limit]], rows[limit - 1].last_sequence, True


async def count_changed(conn: AsyncConnection, channel_id: int, after: int, until: int) -> int:
    found = await conn.execute(
        _COUNT_CHANGED,
        {"after": after, "until": until, "topics": list(TOPICS), "channel": channel_id},
    )
    return int(found.scalar() or 0)


async def current_items(
    conn: AsyncConnection, channel: Channel, product_ids: Sequence[int]
) -> list[FeedItem]:
    """The current ATS of the given products (0 for one the channel can no longer sell at
    all), in the order given; products that do not exist are left out."""
    if not product_ids:
        return []
    found = {item.product_id: item for item in await _items(conn, channel, products=product_ids)}
    return [found[p] for p in dict.fromkeys(product_ids) if p in found]


async def snapshot_items(
    conn: AsyncConnection, channel: Channel, after_product: int | None, limit: int
) -> list[FeedItem]:
    """A page of every product the channel can sell, by product id."""
    return await _items(conn, channel, after=after_product or 0, limit=limit)


async def read_page(
    conn: AsyncConnection, channel: Channel, after: Cursor | None, first: int
) -> FeedPage:
    """One page of the channel's feed: a snapshot page without a cursor (or inside a
    snapshot), else the products changed since the cursor."""
    newest = await watermark(conn)
    if after is None or after.in_snapshot:
        taken_at = newest if after is None else after.sequence
        if after is not None:
            await check_cursor(conn, taken_at, newest, "after")
        page = await snapshot_items(conn, channel, after.product_id if after else None, first + 1)
        if len(page) > first:
            page = page[:first]
            return FeedPage(page, Cursor(taken_at, page[-1].product_id), True, True)
        return FeedPage(page, Cursor(taken_at), False, True)
    await check_cursor(conn, after.sequence, newest, "after")
    ids, until, more = await changed_products(conn, channel.id, after.sequence, newest, first)
    return FeedPage(await current_items(conn, channel, ids), Cursor(until), more, False)
