"""What a kit may sell, derived from its components: a kit has no stock of its own.

    per warehouse:  kit available = min over components of floor(component available / units
                    per kit), 0 where a component is not stocked (likewise on hand)
    per channel:    kit ATS = min over components of floor(component ATS / units per kit)

The channel figure is the components' own ATS (each with its allocation, buffer and holds on
that channel), so a kit never shows more than its components could be reserved for: a kit
reservation holds each component through the same judgement (holds.py).

These functions are called from the one place each figure is computed for any product
(levels.totals_by_products, channels.availability, the channel feed), only for products that
are kits, so other products pay nothing for them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.inventory.channels.registry import Channel
from onhand.inventory.kits.definition import components_of

# Per kit and warehouse: whole kits its components' levels there make.
_PER_WAREHOUSE = text(
    """
    WITH parts AS (
        SELECT kit_product_id, count(*) AS n FROM kit_components
        WHERE kit_product_id = ANY(CAST(:ids AS bigint[])) GROUP BY kit_product_id
    )
    SELECT k.kit_product_id, l.warehouse_id,
        CASE WHEN count(*) = max(p.n) THEN min(greatest(l.on_hand, 0) / k.quantity) ELSE 0 END
            AS on_hand,
        CASE WHEN count(*) = max(p.n) THEN min(greatest(l.available, 0) / k.quantity) ELSE 0
            END AS available
    FROM kit_components k
    JOIN parts p ON p.kit_product_id = k.kit_product_id
    JOIN inventory_levels l ON l.product_id = k.component_product_id
    WHERE k.kit_product_id = ANY(CAST(:ids AS bigint[]))
    GROUP BY k.kit_product_id, l.warehouse_id
    ORDER BY k.kit_product_id, l.warehouse_id
    """
)


@dataclass(frozen=True, slots=True)
class KitStock:
    """Whole kits at one warehouse."""

    warehouse_id: int
    on_hand: int
    available: int


async def kit_stock(conn: AsyncConnection, kit_ids: Sequence[int]) -> dict[int, list[KitStock]]:
    """Each kit's whole kits per warehouse where any of its components is stocked."""
    found: dict[int, list[KitStock]] = {}
    if not kit_ids:
        return found
    for row in await conn.execute(_PER_WAREHOUSE, {"ids": list(kit_ids)}):
        found.setdefault(row.kit_product_id, []).append(
            KitStock(row.warehouse_id, int(row.on_hand), int(row.available))
        )
    return found


class HasAvailableToSell(Protocol):
    @property
    def available_to_sell(self) -> int: ...


@dataclass(frozen=True, slots=True)
class KitOnChannel:
    """A kit's figures on one channel: its ATS and its whole kits per linked warehouse."""

    available_to_sell: int
    stock: tuple[KitStock, ...]


ComponentAvailability = Callable[
    [AsyncConnection, Sequence[Channel], Sequence[int]],
    Awaitable[Mapping[tuple[int, int], HasAvailableToSell]],
]


async def kits_on_channels(
    conn: AsyncConnection,
    channels: Sequence[Channel],
    kit_ids: Sequence[int],
    component_availability: ComponentAvailability,
) -> dict[tuple[int, int], KitOnChannel]:
    """Every channel x kit given, derived from the components' availability, read by
    `component_availability` (channels.availability.availability, which calls this: a
    component is never a kit, so it goes no deeper)."""
    components = await components_of(conn, kit_ids)
    wanted = sorted({c.product_id for parts in components.values() for c in parts})
    of_components = await component_availability(conn, channels, wanted)
    stock = await kit_stock(conn, kit_ids)
    found: dict[tuple[int, int], KitOnChannel] = {}
    for channel in channels:
        linked = set(channel.warehouse_ids)
        for kit_id in kit_ids:
            ats = min(
                (
                    of_components[(channel.id, c.product_id)].available_to_sell // c.quantity
                    if (channel.id, c.product_id) in of_components
                    else 0
                    for c in components.get(kit_id, [])
                ),
                default=0,
            )
            mine = tuple(s for s in stock.get(kit_id, []) if s.warehouse_id in linked)
            found[(channel.id, kit_id)] = KitOnChannel(ats, mine)
    return found
