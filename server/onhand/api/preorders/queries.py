"""Preorder queries: the caps and what is left of them, and the preorders."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError
from sqlalchemy import select

from onhand.api.channels.access import scope
from onhand.api.channels.types import product_ids_of
from onhand.api.context import Info
from onhand.api.inputs import filter_id, product_ref
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.api.preorders.types import (
    Preorder,
    PreorderCap,
    PreorderConnection,
    PreorderStatusEnum,
)
from onhand.auth.roles import Permission
from onhand.core.pagination import Listing
from onhand.db.preorder_tables import preorders
from onhand.inventory.preorders.caps import preorder_caps_of
from onhand.inventory.refs import resolve_product

MAX_PRODUCTS = 250


@strawberry.type
class PreorderQuery:
    @strawberry.field(
        permission_classes=[requires(Permission.READ_STOCK)],
        description="The preorder caps of the given products (by ids and/or SKUs), each with "
        "what is preordered and what is left: the product-wide cap first, then its levels'.",
    )
    async def preorder_caps(
        self,
        info: Info,
        product_ids: list[strawberry.ID] | None = None,
        skus: list[str] | None = None,
    ) -> list[PreorderCap]:
        if len([*(product_ids or []), *(skus or [])]) > MAX_PRODUCTS:
            raise GraphQLError(
                f"at most {MAX_PRODUCTS} products at once",
                extensions={"code": "INVALID", "field": "productIds"},
            )
        found = [p for p in await product_ids_of(info, product_ids or [], skus or []) if p]
        async with info.context.read_engine.connect() as conn:
            caps = await preorder_caps_of(conn, found)
        return [
            PreorderCap.from_record(cap) for p in dict.fromkeys(found) for cap in caps.get(p, [])
        ]

    @strawberry.field(
        permission_classes=[requires(Permission.RESERVE_STOCK)],
        description="Preorders, oldest first (a token bound to a channel: that channel's only).",
    )
    async def preorders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        reference_id: Annotated[
            str | None, strawberry.argument(description="Only this order's.")
        ] = None,
        product_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this product's.")
        ] = None,
        sku: Annotated[str | None, strawberry.argument(description="Or by SKU.")] = None,
        statuses: Annotated[
            list[PreorderStatusEnum] | None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
            strawberry.argument(description="Only these statuses."),
        ] = None,
    ) -> PreorderConnection:
        p = preorders.c
        query = select(preorders)
        if reference_id is not None:
            query = query.where(p.reference_id == reference_id)
        if product_id is not None or sku is not None:
            product = await filter_id(info, product_ref(product_id, sku), resolve_product)
            query = query.where(p.product_id == product)
        if statuses:
            query = query.where(p.status.in_([str(s) for s in statuses]))
        bound = scope(info.context)
        if bound is not None:
            query = query.where(p.channel_id == bound)
        return await paginate(
            info, Listing(query, p.id), Preorder.from_row, first, after, PreorderConnection
        )
