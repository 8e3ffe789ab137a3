"""A component's change concerns the kits it is part of: KIT_AVAILABILITY_CHANGED.

The ledger writes these in its own statement (KIT_EVENT_ROWS, beside INVENTORY_UPDATED):
one event per kit, warehouse and channel a change touched through a component, so that the
channel feed, channelAvailabilityChanged and webhooks see the kit change as its components
do. A product in no kit joins nothing (an index lookup), so other changes pay nothing more.
Setting a kit's components announces the kit at every warehouse stocking a component."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.events.outbox import Topic, insert_events

TOPIC = Topic.KIT_AVAILABILITY_CHANGED.value


def _payload(kit: str, cause: str, component: str, warehouse: str, channel: str) -> str:
    return f"""json_build_object('kitId', {kit}, 'cause', CAST({cause} AS text),
        'componentId', {component}, 'warehouseId', {warehouse}, 'channelId', {channel})"""


# For the ledger's statement: rows of `judged` (product_id, warehouse_id, channel_id,
# changed) joined to the kits containing their product.
_COMPONENT_PAYLOAD = _payload(
    "k.kit_product_id", "'COMPONENT'", "j.product_id", "j.warehouse_id", "j.channel_id"
)
KIT_EVENT_ROWS = f"""SELECT DISTINCT ON (k.kit_product_id, j.warehouse_id, j.channel_id)
        '{TOPIC}', k.kit_product_id, j.warehouse_id, j.channel_id,
        {_COMPONENT_PAYLOAD}
    FROM judged j
    JOIN kit_components k ON k.component_product_id = j.product_id
    WHERE j.changed AND (SELECT all_ok FROM verdict)
    ORDER BY k.kit_product_id, j.warehouse_id, j.channel_id"""

_ANNOUNCE = text(
    insert_events(
        f"""SELECT DISTINCT ON (k.kit_product_id, l.warehouse_id)
            '{TOPIC}', k.kit_product_id, l.warehouse_id, CAST(NULL AS bigint),
            {_payload("k.kit_product_id", ":cause", "NULL", "l.warehouse_id", "NULL")}
        FROM unnest(CAST(:kits AS bigint[])) AS kit(id)
        JOIN kit_components k ON k.kit_product_id = kit.id
        JOIN inventory_levels l ON l.product_id = k.component_product_id
        ORDER BY k.kit_product_id, l.warehouse_id"""
    )
)


async def announce_kits(conn: AsyncConnection, kit_ids: Sequence[int], cause: str) -> None:
    """A KIT_AVAILABILITY_CHANGED event per kit and warehouse stocking a component."""
    await conn.execute(_ANNOUNCE, {"kits": list(kit_ids), "cause": cause})


_ON_CHANNELS = text(
    insert_events(
        f"""SELECT DISTINCT ON (k.kit_product_id, c.channel_id)
            '{TOPIC}', k.kit_product_id, CAST(NULL AS bigint), c.channel_id,
            {_payload("k.kit_product_id", "'COMPONENT'", "c.product_id", "NULL", "c.channel_id")}
        FROM unnest(CAST(:channels AS bigint[]), CAST(:products AS bigint[]))
            AS c(channel_id, product_id)
        JOIN kit_components k ON k.component_product_id = c.product_id
        ORDER BY k.kit_product_id, c.channel_id"""
    )
)


async def announce_on_channels(conn: AsyncConnection, pairs: Sequence[tuple[int, int]]) -> None:
    """A component's allocation or buffer on a channel changed (channel, product pairs): its
    kits' ATS there may have changed too."""
    if pairs:
        await conn.execute(
            _ON_CHANNELS,
            {"channels": [c for c, _ in pairs], "products": [p for _, p in pairs]},
        )
