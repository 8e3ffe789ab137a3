"""Purchase limits at reservation time: the most units one cart or order reference may hold
of a product on a channel (channels/purchase_limits.py sets them).

What a reference holds already is its ACTIVE and FULFILLED reservations of the product on the
channel (released and expired ones gave their units back). It is counted after the channel x
product row is locked (state.LOCK), which every reservation of that product on that channel
takes, so two requests for one cart cannot both count the same room: the second counts the
first's reservations once it commits. Requests judged in one batch count the ones before
them. The optimistic one-statement way (optimistic.py) judges unlocked, so a batch touching
a limited product goes the locked way.

A kit is judged as its component lines (kits/holds.py), so its components' limits count the
units it holds of them; a limit on the kit itself counts kits: what a reference holds of a kit
is the kits of its kit reservations (the first component hold of each names the kit and its
units per kit), and a kit line asks for its kits.

A limited product is looked up only when `State.purchase_limits` (read in the state's own
statement) names it: products without a limit cost nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.inventory.kits.holds import KitLine
from onhand.inventory.reservations.requests import Hold, Resolved
from onhand.inventory.reservations.state import State

_ALREADY = text(
    """
    SELECT k.channel_id, k.product_id, k.reference_id,
        coalesce(sum(CASE WHEN r.product_id = k.product_id THEN r.quantity
                     ELSE r.quantity / r.kit_quantity END), 0) AS held
    FROM unnest(CAST(:channels AS bigint[]), CAST(:products AS bigint[]),
        CAST(:refs AS text[])) AS k(channel_id, product_id, reference_id)
    LEFT JOIN reservations r
        ON r.reference_id = k.reference_id AND r.channel_id = k.channel_id
        AND (r.product_id = k.product_id
             OR (r.kit_product_id = k.product_id AND r.id = r.kit_reservation_id))
        AND r.status IN ('ACTIVE', 'FULFILLED')
    GROUP BY 1, 2, 3
    """
)

Key = tuple[int, int, str]  # channel, product, reference


@dataclass
class PurchaseLimits:
    """The limits of a batch's limited products, and what each reference holds of them."""

    limits: Mapping[tuple[int, int], int]
    held: dict[Key, int] = field(default_factory=dict)
    # The kit lines of each request (by its index), as judged by their components' lines.
    kits: Mapping[int, Sequence[KitLine]] = field(default_factory=dict)

    @classmethod
    async def load(
        cls,
        conn: AsyncConnection,
        resolved: Sequence[Resolved],
        state: State,
        kit_lines: Sequence[KitLine] = (),
    ) -> PurchaseLimits | None:
        """None when no request names a limited product (no query then)."""
        limits = state.purchase_limits
        if not limits:
            return None
        kits: dict[int, list[KitLine]] = {}
        for kit in kit_lines:
            kits.setdefault(kit.request, []).append(kit)
        keys = {
            (item.channel.id, product_id, item.reference_id)
            for item in resolved
            if item.channel is not None and item.reference_id is not None
            for product_id in [*item.products, *(k.kit_id for k in kits.get(item.index, ()))]
            if (item.channel.id, product_id) in limits
        }
        found = cls(limits, kits=kits)
        if keys:
            ordered = sorted(keys)
            rows = await conn.execute(
                _ALREADY,
                {
                    "channels": [k[0] for k in ordered],
                    "products": [k[1] for k in ordered],
                    "refs": [k[2] for k in ordered],
                },
            )
            found.held = {(r.channel_id, r.product_id, r.reference_id): r.held for r in rows}
        return found

    def check(self, item: Resolved) -> None:
        """Refuses the request whole when it would take a reference past a limit (a limit is
        the merchant's rule, not a shortage: allowPartial does not make it a line failure)."""
        channel = item.channel
        if channel is None:
            return
        asked: dict[int, int] = {}
        first_field: dict[int, str] = {}
        for line, product_id in zip(item.request.lines, item.products, strict=True):
            if (channel.id, product_id) in self.limits:
                asked[product_id] = asked.get(product_id, 0) + line.quantity
                first_field.setdefault(product_id, f"{line.prefix}quantity")
        for kit in self.kits.get(item.index, ()):
            if (channel.id, kit.kit_id) in self.limits:
                asked[kit.kit_id] = asked.get(kit.kit_id, 0) + kit.kits
                first_field.setdefault(kit.kit_id, f"{kit.prefix}quantity")
        problems = []
        for product_id, requested in asked.items():
            limit = self.limits[(channel.id, product_id)]
            if item.reference_id is None:
                problems.append(
                    Problem(
                        ErrorCode.REQUIRED,
                        f"this product has a purchase limit of {limit} per cart or order on"
                        f" channel {channel.code}: give referenceId",
                        "referenceId",
                        {"limit": limit},
                    )
                )
                continue
            already = self.held.get((channel.id, product_id, item.reference_id), 0)
            if already + requested > limit:
                problems.append(
                    Problem(
                        ErrorCode.PURCHASE_LIMIT_EXCEEDED,
                        f"purchase limit exceeded: at most {limit} per cart or order on channel"
                        f" {channel.code}; {item.reference_id!r} holds {already}, {requested}"
                        " more requested",
                        first_field[product_id],
                        {"limit": limit, "already_reserved": already, "requested": requested},
                    )
                )
        if problems:
            raise DomainError(*problems)

    def count(self, item: Resolved, holds: Sequence[Hold]) -> None:
        """What a request judged here holds now, for the requests judged after it."""
        if item.channel is None or item.reference_id is None:
            return
        for hold in holds:
            if (item.channel.id, hold.product_id) in self.limits:
                key = (item.channel.id, hold.product_id, item.reference_id)
                self.held[key] = self.held.get(key, 0) + hold.quantity
        for kit in self.kits.get(item.index, ()):
            if (item.channel.id, kit.kit_id) in self.limits:
                key = (item.channel.id, kit.kit_id, item.reference_id)
                self.held[key] = self.held.get(key, 0) + kit.kits
