"""Natural keys of a batch of reservation requests (SKUs, variant ids, warehouse and channel
codes), looked up in one query per kind, then each request resolved on its own so that one
request's unknown SKU fails that request only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.inventory.channels.registry import Channel, find_channel, load_channels
from onhand.inventory.reservations.requests import ReserveLine, ReserveRequest, Resolved


class Lookups:
    """Natural keys of a whole batch, looked up in one query per kind."""

    def __init__(self) -> None:
        self.skus: dict[str, int] = {}
        self.variants: dict[str, list[tuple[int, str | None]]] = {}
        self.codes: dict[str, int] = {}
        self.channels: list[Channel] = []

    @classmethod
    async def load(cls, conn: AsyncConnection, requests: Sequence[ReserveRequest]) -> Lookups:
        found = cls()
        lines = [line for r in requests for line in r.lines]
        skus = {ln.product.key for ln in lines if ln.product and ln.product.key is not None}
        variants = {
            ln.variant_id for ln in lines if ln.variant_id is not None and ln.product is None
        }
        codes = {ln.warehouse.key for ln in lines if ln.warehouse and ln.warehouse.key is not None}
        if skus:
            rows = await conn.execute(
                text("SELECT id, sku FROM products WHERE sku = ANY(CAST(:k AS text[]))"),
                {"k": sorted(skus)},
            )
            found.skus = {row.sku: row.id for row in rows}
        if variants:
            rows = await conn.execute(
                text(
                    "SELECT id, external_variant_id FROM products"
                    " WHERE external_variant_id = ANY(CAST(:k AS text[])) ORDER BY id"
                ),
                {"k": sorted(variants)},
            )
            for row in rows:
                found.variants.setdefault(row.external_variant_id, []).append((row.id, None))
        if codes:
            rows = await conn.execute(
                text("SELECT id, code FROM warehouses WHERE code = ANY(CAST(:k AS text[]))"),
                {"k": sorted(codes)},
            )
            found.codes = {row.code: row.id for row in rows}
        refs = [r.channel for r in requests if r.channel is not None]
        if refs:
            found.channels = await load_channels(
                conn, [r.id for r in refs if r.id is not None], [r.key for r in refs if r.key]
            )
        return found

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
