"""The rows reservations are judged on, locked in the one order every reservation path keeps
(channel x product rows, then levels in id order), and what the requests judged so far in a
batch have taken from them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.refs import Ref
from onhand.inventory.channels.availability import (
    Allocation,
    WarehouseStock,
    available_to_sell,
    compute,
    physical_of,
)
from onhand.inventory.channels.registry import Channel
from onhand.inventory.reservations.lookups import FOUND, LOOKED_UP, Lookups
from onhand.inventory.reservations.requests import ReserveRequest, Resolved

_STATE = """
    WITH {asked},
    -- A kit's components are judged and locked in its place (kits/holds.py); a product in
    -- no kit joins nothing here.
    req AS (
        SELECT DISTINCT * FROM (
            SELECT * FROM asked
            UNION ALL
            SELECT a.channel_id, k.component_product_id, a.warehouse_id
            FROM asked a JOIN kit_components k ON k.kit_product_id = a.product_id
        ) r
    ),
    allocations AS ({allocations}),
    targets AS (
        SELECT r.product_id, cw.warehouse_id
        FROM req r JOIN channel_warehouses cw ON cw.channel_id = r.channel_id
        UNION
        SELECT r.product_id, r.warehouse_id FROM req r WHERE r.warehouse_id IS NOT NULL
        UNION
        SELECT l.product_id, l.warehouse_id
        FROM req r JOIN inventory_levels l ON l.product_id = r.product_id
        WHERE r.channel_id IS NULL
    ),
    levels AS (
        SELECT l.id, l.product_id, l.warehouse_id, l.on_hand, l.reserved, l.committed,
            l.available
        FROM inventory_levels l
        WHERE (l.product_id, l.warehouse_id) IN (SELECT product_id, warehouse_id FROM targets)
        {levels_tail}
    )
    SELECT
        (SELECT coalesce(json_agg(a), '[]') FROM allocations a) AS allocations,
        (SELECT coalesce(json_agg(l), '[]') FROM levels l) AS levels,
        (SELECT coalesce(json_agg(json_build_object('id', w.id, 'is_active', w.is_active,
            'allow_backorders', w.allow_backorders, 'latitude', w.latitude,
            'longitude', w.longitude, 'priority', w.priority,
            'born', extract(epoch FROM w.created_at)::float8)), '[]')
         FROM warehouses w WHERE w.id IN (SELECT warehouse_id FROM targets)) AS warehouses,
        (SELECT coalesce(json_agg(json_build_object('id', p.id, 'is_active', p.is_active,
            'variant', p.external_variant_id, 'sku', p.sku, 'is_kit', p.is_kit,
            'components', CASE WHEN p.is_kit THEN (
                SELECT json_agg(json_build_object('product_id', k.component_product_id,
                    'quantity', k.quantity) ORDER BY k.component_product_id)
                FROM kit_components k WHERE k.kit_product_id = p.id) END)), '[]')
         FROM products p WHERE p.id IN (SELECT product_id FROM req)) AS products,
        -- Purchase limits ride along (an index probe, no round trip of their own): a
        -- product without one costs its reservations nothing more (see limits.py).
        (SELECT coalesce(json_agg(json_build_object('channel_id', pl.channel_id,
            'product_id', pl.product_id, 'limit', pl.max_per_reference)), '[]')
         FROM purchase_limits pl
         WHERE (pl.channel_id, pl.product_id) IN (SELECT channel_id, product_id FROM req))
            AS purchase_limits
        {also}
    """
# Each line's channel, product and warehouse, by id.
_BY_IDS = """asked AS (
        SELECT * FROM unnest(CAST(:channels AS bigint[]), CAST(:products AS bigint[]),
            CAST(:warehouses AS bigint[])) AS r(channel_id, product_id, warehouse_id)
    )"""
# Each line's channel, product and warehouse as the request names them, looked up here
# as Lookups.resolve will (a variant id naming several products names none).
_BY_REFS = f"""{FOUND},
    given AS (
        SELECT * FROM unnest(CAST(:channels AS bigint[]), CAST(:channel_codes AS text[]),
            CAST(:products AS bigint[]), CAST(:line_skus AS text[]),
            CAST(:line_variants AS text[]), CAST(:warehouses AS bigint[]),
            CAST(:line_codes AS text[]))
            AS g(channel_id, channel_code, product_id, sku, variant, warehouse_id, code)
    ),
    asked AS (
        SELECT coalesce(g.channel_id,
                (SELECT c.id FROM found_channels c WHERE c.code = g.channel_code)) AS channel_id,
            coalesce(g.product_id,
                (SELECT s.id FROM found_skus s WHERE s.sku = g.sku),
                (SELECT min(v.id) FROM found_variants v WHERE v.variant = g.variant
                 HAVING count(*) = 1)) AS product_id,
            coalesce(g.warehouse_id,
                (SELECT w.id FROM found_codes w WHERE w.code = g.code)) AS warehouse_id
        FROM given g
    )"""

# Locks (channel x product rows, created when missing, then levels in id order) and reads
# what judging needs.
LOCK = text(
    _STATE.format(
        asked=_BY_IDS,
        also="",
        allocations="""
        INSERT INTO channel_inventory AS ci (channel_id, product_id)
        SELECT DISTINCT r.channel_id, r.product_id
        FROM req r JOIN products p ON p.id = r.product_id
        WHERE r.channel_id IS NOT NULL
        ORDER BY 1, 2
        ON CONFLICT (channel_id, product_id) DO UPDATE SET held = ci.held
        RETURNING ci.channel_id, ci.product_id, ci.allocated, ci.buffer, ci.held, ci.version""",
        levels_tail="""-- An init plan: the channel rows above are locked before any level.
          AND (SELECT count(*) FROM allocations) >= 0
        ORDER BY l.id
        FOR UPDATE""",
    )
)
# The same rows read without a lock (optimistic.py judges on them, then checks in its write
# that what it relied on has not shrunk), with the requests' natural keys looked up in the
# same round trip. A channel x product row not made yet is left out.
READ = text(
    _STATE.format(
        asked=_BY_REFS,
        also=f", {LOOKED_UP} AS looked_up",
        allocations="""
        SELECT ci.channel_id, ci.product_id, ci.allocated, ci.buffer, ci.held, ci.version
        FROM channel_inventory ci
        WHERE (ci.channel_id, ci.product_id) IN (SELECT channel_id, product_id FROM req)""",
        levels_tail="",
    )
)


def loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class State:
    """What the locked rows say, and what the requests judged so far have taken."""

    stock: dict[tuple[int, int], WarehouseStock]
    taken: dict[tuple[int, int], int]
    allocations: dict[tuple[int, int], Allocation]
    held: dict[tuple[int, int], int]
    warehouses: dict[int, dict[str, Any]]
    products: dict[int, dict[str, Any]]
    utilization: Mapping[tuple[int, float], float] = field(default_factory=dict)
    # The most one cart or order reference may hold, by (channel, product): limits.py.
    purchase_limits: dict[tuple[int, int], int] = field(default_factory=dict)

    @classmethod
    async def lock(
        cls,
        conn: AsyncConnection,
        items: Sequence[Resolved],
        utilization: Mapping[tuple[int, float], float],
    ) -> State:
        channels, products, warehouses = [], [], []
        for item in items:
            for product_id, warehouse_id in zip(item.products, item.warehouses, strict=True):
                channels.append(item.channel.id if item.channel else None)
                products.append(product_id)
                warehouses.append(warehouse_id)
        if not products:
            return cls({}, {}, {}, {}, {}, {})
        row = (
            await conn.execute(
                LOCK,
                {"channels": channels, "products": products, "warehouses": warehouses},
            )
        ).one()
        return cls._of(row, utilization)

    @classmethod
    async def read(
        cls,
        conn: AsyncConnection,
        requests: Sequence[ReserveRequest],
        utilization: Mapping[tuple[int, float], float],
    ) -> tuple[Lookups, State]:
        """The requests' natural keys looked up, and the rows they name read unlocked, in one
        round trip."""
        lines = [(r.channel, line) for r in requests for line in r.lines]
        if not lines:
            return Lookups(), cls({}, {}, {}, {}, {}, {})

        def key(ref: Ref | None) -> str | None:
            return ref.key if ref is not None else None

        row = (
            await conn.execute(
                READ,
                {
                    **Lookups.params(requests),
                    "channels": [c.id if c else None for c, _ in lines],
                    "channel_codes": [key(c) for c, _ in lines],
                    "products": [ln.product.id if ln.product else None for _, ln in lines],
                    "line_skus": [key(ln.product) for _, ln in lines],
                    "line_variants": [
                        ln.variant_id if ln.product is None else None for _, ln in lines
                    ],
                    "warehouses": [ln.warehouse.id if ln.warehouse else None for _, ln in lines],
                    "line_codes": [key(ln.warehouse) for _, ln in lines],
                },
            )
        ).one()
        return Lookups.from_json(row.looked_up), cls._of(row, utilization)

    @classmethod
    def _of(cls, row: Any, utilization: Mapping[tuple[int, float], float]) -> State:
        stock = {
            (lv["product_id"], lv["warehouse_id"]): WarehouseStock(
                lv["warehouse_id"], lv["on_hand"], lv["reserved"], lv["committed"], lv["available"]
            )
            for lv in loads(row.levels)
        }
        allocations = {
            (a["channel_id"], a["product_id"]): Allocation(
                a["channel_id"],
                a["product_id"],
                a["allocated"],
                a["buffer"],
                a["held"],
                a["version"],
            )
            for a in loads(row.allocations)
        }
        return cls(
            stock=stock,
            taken={},
            allocations=allocations,
            held={key: a.held for key, a in allocations.items()},
            warehouses={w["id"]: w for w in loads(row.warehouses)},
            products={p["id"]: p for p in loads(row.products)},
            utilization=utilization,
            purchase_limits={
                (x["channel_id"], x["product_id"]): x["limit"] for x in loads(row.purchase_limits)
            },
        )

    def sellable(self, product_id: int, warehouse_id: int, taken: Mapping[Any, int]) -> int:
        stock = self.stock.get((product_id, warehouse_id))
        if stock is None:
            return 0
        key = (product_id, warehouse_id)
        return max(0, stock.available - self.taken.get(key, 0) - taken.get(key, 0))

    def active(self, warehouse_id: int) -> bool:
        return bool(self.warehouses.get(warehouse_id, {}).get("is_active"))

    def backorders(self, warehouse_id: int) -> bool:
        return bool(self.warehouses.get(warehouse_id, {}).get("allow_backorders"))

    def candidates(self, channel: Channel | None, product_id: int) -> list[int]:
        """The active warehouses that may ship the product (for the channel)."""
        if channel is not None:
            pool = channel.warehouse_ids
        else:
            pool = tuple(sorted(w for (p, w) in self.stock if p == product_id))
        return [w for w in pool if self.active(w) and (product_id, w) in self.stock]

    def ats(
        self,
        channel: Channel,
        product_id: int,
        taken: Mapping[Any, int],
        *,
        within_buffer: bool = False,
    ) -> int:
        """The channel's available-to-sell of the product as this judgement stands;
        `within_buffer`: with its buffer counted in (what a marketplace order sold against the
        channel's last synced figure may take, see judging.sold_against_feed)."""
        key = (channel.id, product_id)
        base = self.allocations.get(key)
        held = self.held.get(key, 0) + taken.get(("held", *key), 0)
        allocation = Allocation(
            channel.id,
            product_id,
            base.allocated if base else None,
            base.buffer if base else None,
            held,
            base.version if base else 0,
        )
        physical = physical_of(
            WarehouseStock(w, 0, 0, 0, self.sellable(product_id, w, taken))
            for w in self.candidates(channel, product_id)
        )
        # Lines still to be routed will take this much from one warehouse or another.
        physical = max(0, physical - taken.get(("pending", product_id), 0))
        if within_buffer:
            sells = channel.is_active
            return available_to_sell(physical, allocation.allocated, 0, held, 0, sells=sells)
        return compute(channel, product_id, allocation, physical).available_to_sell

    def commit(self, taken: Mapping[Any, int]) -> None:
        for key, quantity in taken.items():
            if key[0] == "pending":  # routed by now: taken from real warehouses
                continue
            if key[0] == "held":
                self.held[key[1:]] = self.held.get(key[1:], 0) + quantity
            else:
                self.taken[key] = self.taken.get(key, 0) + quantity
