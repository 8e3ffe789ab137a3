"""Natural keys of a batch of reservation requests (SKUs, variant ids, warehouse and channel
codes), looked up in one query for all kinds, then each request resolved on its own so that
one request's unknown SKU fails that request only.

The lookups are CTEs (`FOUND`) with one select-list expression that returns them all
(`LOOKED_UP`), so that the unlocked read of the optimistic path (state.READ) looks them up in
the same round trip as it reads the rows to judge."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.inventory.channels.registry import WAREHOUSE_IDS, Channel, find_channel
from onhand.inventory.reservations.requests import ReserveLine, ReserveRequest, Resolved

FOUND = f"""
    found_skus AS (
        SELECT id, sku FROM products WHERE sku = ANY(CAST(:skus AS text[]))
    ),
    found_variants AS (
        SELECT id, external_variant_id AS variant FROM products
        WHERE external_variant_id = ANY(CAST(:variants AS text[]))
    ),
    found_codes AS (
        SELECT id, code FROM warehouses WHERE code = ANY(CAST(:codes AS text[]))
    ),
    found_channels AS (
        SELECT c.*, {WAREHOUSE_IDS} AS warehouse_ids
        FROM channels c
        WHERE c.id = ANY(CAST(:channel_ids AS bigint[]))
           OR c.code = ANY(CAST(:channel_codes AS text[]))
    )"""
LOOKED_UP = """json_build_object(
        'skus', (SELECT coalesce(json_agg(json_build_array(sku, id)), '[]') FROM found_skus),
        'variants', (SELECT coalesce(json_agg(json_build_array(variant, id) ORDER BY id), '[]')
                     FROM found_variants),
        'codes', (SELECT coalesce(json_agg(json_build_array(code, id)), '[]') FROM found_codes),
        'channels', (SELECT coalesce(json_agg(c), '[]') FROM found_channels c)
    )"""
_LOOK_UP = text(f"WITH {FOUND} SELECT {LOOKED_UP} AS looked_up")


class Lookups:
    """Natural keys of a whole batch, looked up in one query."""

    def __init__(self) -> None:
        self.skus: dict[str, int] = {}
        self.variants: dict[str, list[tuple[int, str | None]]] = {}
        self.codes: dict[str, int] = {}
        self.channels: list[Channel] = []

    @staticmethod
    def params(requests: Sequence[ReserveRequest]) -> dict[str, list[Any]]:
        """What FOUND looks up for these requests."""
        lines = [line for r in requests for line in r.lines]
        refs = [r.channel for r in requests if r.channel is not None]
        return {
            "skus": sorted(
                {ln.product.key for ln in lines if ln.product and ln.product.key is not None}
            ),
            "variants": sorted(
                {ln.variant_id for ln in lines if ln.variant_id is not None and ln.product is None}
            ),
            "codes": sorted(
                {ln.warehouse.key for ln in lines if ln.warehouse and ln.warehouse.key is not None}
            ),
            "channel_ids": sorted({r.id for r in refs if r.id is not None}),
            "channel_codes": sorted({r.key for r in refs if r.key}),
        }

    @classmethod
    def from_json(cls, value: Any) -> Lookups:
        """From what LOOKED_UP returned."""
        looked_up = json.loads(value) if isinstance(value, str) else value
        found = cls()
        found.skus = {sku: product_id for sku, product_id in looked_up["skus"]}
        for variant, product_id in looked_up["variants"]:
            found.variants.setdefault(variant, []).append((product_id, None))
        found.codes = {code: warehouse_id for code, warehouse_id in looked_up["codes"]}
        found.channels = [Channel.from_json(row) for row in looked_up["channels"]]
        return found

    @classmethod
    async def load(cls, conn: AsyncConnection, requests: Sequence[ReserveRequest]) -> Lookups:
        params = cls.params(requests)
        if not any(params.values()):
            return cls()
        return cls.from_json((await conn.execute(_LOOK_UP, params)).scalar_one())

    def resolve(self, index: int, request: ReserveRequest) -> Resolved:
        problems: list[Problem] = []
        channel = None
        if request.channel is not None:
            found = find_channel(request.channel, self.channels)
            if isinstance(found, Problem):
                problems.append(found)
            else:
                channel = found
        products: list[int] = []
        warehouses: list[int | None] = []
        for line in request.lines:
            products.append(self._product(line, problems))
            warehouses.append(self._warehouse(line, problems))
        if problems:
            raise DomainError(*problems)
        reference = request.reference_id.strip() if request.reference_id else None
        return Resolved(index, request, channel, reference or None, products, warehouses)

    def _product(self, line: ReserveLine, problems: list[Problem]) -> int:
        ref = line.product
        if ref is not None and ref.id is not None:
            return ref.id
        if ref is not None and ref.key is not None:
            if ref.key not in self.skus:
                problems.append(
                    Problem(ErrorCode.NOT_FOUND, f"product {ref.key} does not exist", ref.field)
                )
                return 0
            return self.skus[ref.key]
        matches = self.variants.get(line.variant_id or "", [])
        where = f"{line.prefix}variantId"
        if len(matches) != 1:
            message = (
                f"no product has variant id {line.variant_id!r}"
                if not matches
                else f"variant id {line.variant_id!r} names {len(matches)} products; give"
                " productId or sku"
            )
            code = ErrorCode.NOT_FOUND if not matches else ErrorCode.INVALID
            problems.append(Problem(code, message, where))
            return 0
        return matches[0][0]

    def _warehouse(self, line: ReserveLine, problems: list[Problem]) -> int | None:
        ref = line.warehouse
        if ref is None:
            return None
        if ref.id is not None:
            return ref.id
        if ref.key not in self.codes:
            problems.append(
                Problem(ErrorCode.NOT_FOUND, f"warehouse {ref.key} does not exist", ref.field)
            )
            return None
        return self.codes[ref.key]
