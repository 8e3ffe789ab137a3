"""Preorder mutations: setPreorderCap, createPreorder, releasePreorder."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.channels.access import channel_or_own, scope
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import IDEMPOTENCY_KEY, product_ref, warehouse_ref
from onhand.api.permissions import mutate
from onhand.api.preorders.types import Preorder, PreorderCap
from onhand.auth.roles import Permission
from onhand.core.refs import Ref
from onhand.inventory.preorders import caps, placing

PRODUCT_ID = strawberry.field(default=None, description="The product, by global id (or sku).")
SKU = strawberry.field(default=None, description="The product, by SKU.")
WAREHOUSE_ID = strawberry.field(
    default=None, description="A level's warehouse, by global id (or warehouseCode)."
)
WAREHOUSE_CODE = strawberry.field(default=None, description="A level's warehouse, by code.")


def _warehouse(warehouse_id: str | None, code: str | None) -> Ref | None:
    if warehouse_id is None and code is None:
        return None
    return warehouse_ref(warehouse_id, code)


@strawberry.input(
    description="Accept preorders of a product (no warehouse) or of one level, up to a cap; "
    "null clears the cap (no new preorders; the waiting ones still convert)."
)
class SetPreorderCapInput:
    product_id: strawberry.ID | None = PRODUCT_ID
    sku: str | None = SKU
    warehouse_id: strawberry.ID | None = WAREHOUSE_ID
    warehouse_code: str | None = WAREHOUSE_CODE
    cap: int | None = strawberry.field(
        description="The most units that may wait as preorders; null clears the cap."
    )


@strawberry.input(description="Preorder a product that has a preorder cap.")
class CreatePreorderInput:
    product_id: strawberry.ID | None = PRODUCT_ID
    sku: str | None = SKU
    warehouse_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Wait at this level (its cap); default: the product-wide cap, converted at "
        "whichever warehouse receives first.",
    )
    warehouse_code: str | None = WAREHOUSE_CODE
    quantity: int = strawberry.field(description="Units to preorder.")
    reference_id: str | None = strawberry.field(
        default=None, description="The order id: the ORDER reservation it becomes keeps it."
    )
    channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="The channel it is sold on (default: a bound token's own)."
    )
    channel_code: str | None = strawberry.field(default=None, description="Or by code.")
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.input(description="Cancel a waiting preorder: it stops counting against its cap.")
class ReleasePreorderInput:
    id: strawberry.ID = strawberry.field(description="The preorder.")


@strawberry.type
class SetPreorderCapPayload:
    preorder_cap: PreorderCap | None = strawberry.field(
        default=None, description="The cap now; null when cleared (or refused)."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed."
    )


@strawberry.type
class PreorderPayload:
    preorder: Preorder | None = strawberry.field(
        default=None, description="The preorder; null when refused."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed."
    )


@strawberry.type
class CreatePreorderPayload(PreorderPayload):
    pass


@strawberry.type
class ReleasePreorderPayload(PreorderPayload):
    pass


@strawberry.type
class PreorderMutation:
    @strawberry.mutation(
        description="Set (or clear, with null) how many units of a product, or of one level, "
        "may be preordered."
    )
    async def set_preorder_cap(
        self, info: Info, input: SetPreorderCapInput
    ) -> SetPreorderCapPayload:
        async def work(context: Context) -> SetPreorderCapPayload:
            request = caps.SetPreorderCap(
                product=product_ref(input.product_id, input.sku),
                warehouse=_warehouse(input.warehouse_id, input.warehouse_code),
                cap=input.cap,
            )
            _, _, record = await context.transaction(
                lambda conn: caps.set_preorder_cap(conn, request)
            )
            return SetPreorderCapPayload(
                preorder_cap=PreorderCap.from_record(record) if record else None
            )

        return await mutate(info, Permission.MANAGE_STOCK, SetPreorderCapPayload, work)

    @strawberry.mutation(
        description="Preorder units before stock exists, within the cap (PREORDER_CAP_EXCEEDED "
        "beyond it). It holds no stock; when stock is received it becomes an ORDER "
        "reservation, oldest preorder first."
    )
    async def create_preorder(
        self, info: Info, input: CreatePreorderInput
    ) -> CreatePreorderPayload:
        async def work(context: Context) -> CreatePreorderPayload:
            request = placing.PlacePreorder(
                product=product_ref(input.product_id, input.sku),
                quantity=input.quantity,
                warehouse=_warehouse(input.warehouse_id, input.warehouse_code),
                channel=channel_or_own(context, input.channel_id, input.channel_code),
                reference_id=input.reference_id,
                idempotency_key=input.idempotency_key,
            )
            change = context.change_context()
            record = await context.transaction(
                lambda conn: placing.place_preorder(conn, request, change)
            )
            return CreatePreorderPayload(preorder=Preorder.from_record(record))

        return await mutate(info, Permission.RESERVE_STOCK, CreatePreorderPayload, work)

    @strawberry.mutation(description="Cancel a waiting (ACTIVE) preorder.")
    async def release_preorder(
        self, info: Info, input: ReleasePreorderInput
    ) -> ReleasePreorderPayload:
        async def work(context: Context) -> ReleasePreorderPayload:
            preorder_id = ids.decode(input.id, "Preorder", "id")
            change = context.change_context()
            record = await context.transaction(
                lambda conn: placing.release_preorder(conn, preorder_id, change, scope(context))
            )
            return ReleasePreorderPayload(preorder=Preorder.from_record(record))

        return await mutate(info, Permission.RESERVE_STOCK, ReleasePreorderPayload, work)
