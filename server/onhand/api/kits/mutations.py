"""setKitComponents: make a product a kit of other products, or change or clear its
components (see inventory/kits/definition.py for the rules)."""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import product_ref
from onhand.api.kits.types import KitComponent
from onhand.api.permissions import mutate
from onhand.api.products.types import Product
from onhand.auth.roles import Permission
from onhand.core.records import Product as ProductRecord
from onhand.inventory import products
from onhand.inventory.kits.definition import (
    MAX_COMPONENTS,
    ComponentLine,
    KitDefinition,
    SetKit,
    set_kit_components,
)


@strawberry.input(description="A component of a kit: a product and its units per kit.")
class KitComponentInput:
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The component (or give its sku)."
    )
    sku: str | None = strawberry.field(default=None, description="The component's SKU.")
    quantity: int = strawberry.field(description="Units of it in one kit, at least 1.")


@strawberry.input(
    description="The kit's components, replacing those it had; an empty list makes it a kit "
    "no more. A kit holds no stock of its own (a product with inventory levels cannot become "
    "one), contains no kit and is no component of another."
)
class SetKitComponentsInput:
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The kit (or give its sku)."
    )
    sku: str | None = strawberry.field(default=None, description="The kit's SKU.")
    components: list[KitComponentInput] = strawberry.field(
        description=f"Each component once, at most {MAX_COMPONENTS}."
    )


@strawberry.type(description="The kit and its components now.")
class SetKitComponentsPayload:
    product: Product | None = strawberry.field(default=None, description="The kit.")
    components: list[KitComponent] = strawberry.field(
        default_factory=list, description="Its components, by product id."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class KitMutation:
    @strawberry.mutation(
        description="Make a product a kit of components (each with its units per kit), "
        "change them, or clear them. A kit's availability is derived from its components, "
        "and reserving it holds them."
    )
    async def set_kit_components(
        self, info: Info, input: SetKitComponentsInput
    ) -> SetKitComponentsPayload:
        async def work(context: Context) -> SetKitComponentsPayload:
            request = SetKit(
                product_ref(input.product_id, input.sku),
                tuple(
                    ComponentLine(
                        product_ref(c.product_id, c.sku, prefix=f"components.{i}."), c.quantity
                    )
                    for i, c in enumerate(input.components)
                ),
            )

            async def write(conn: AsyncConnection) -> tuple[ProductRecord, KitDefinition]:
                done = await set_kit_components(conn, request)
                found = await products.products_by_ids(conn, [done.kit_id])
                return found[done.kit_id], done

            kit, done = await context.transaction(write)
            return SetKitComponentsPayload(
                product=Product.from_record(kit),
                components=[KitComponent.from_record(c) for c in done.components],
            )

        return await mutate(info, Permission.MANAGE_PRODUCTS, SetKitComponentsPayload, work)
