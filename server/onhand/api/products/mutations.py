"""Product mutations."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import provided
from onhand.api.permissions import mutate
from onhand.api.products.types import Product
from onhand.auth.roles import Permission
from onhand.inventory import products


@strawberry.input
class CreateProductInput:
    sku: str
    name: str
    external_product_id: str | None = None
    external_variant_id: str | None = None
    is_active: bool = True


@strawberry.input
class UpdateProductInput:
    id: strawberry.ID
    expected_version: int | None = None
    sku: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    external_product_id: str | None = strawberry.UNSET
    external_variant_id: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET


@strawberry.input
class UpsertProductsInput:
    products: list[CreateProductInput] = strawberry.field(
        description=f"Created, or updated by SKU; at most {products.MAX_UPSERT}."
    )


@strawberry.type
class CreateProductPayload:
    product: Product | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateProductPayload:
    product: Product | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpsertProductsPayload:
    products: list[Product] = strawberry.field(default_factory=list)
    created_count: int = 0
    updated_count: int = 0
    unchanged_count: int = 0
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProductMutation:
    @strawberry.mutation
    async def create_product(self, info: Info, input: CreateProductInput) -> CreateProductPayload:
        async def work(context: Context) -> CreateProductPayload:
            record = await context.transaction(
                lambda conn: products.create_product(conn, provided(input))
            )
            return CreateProductPayload(product=Product.from_record(record))

        return await mutate(info, Permission.MANAGE_PRODUCTS, CreateProductPayload, work)

    @strawberry.mutation
    async def update_product(self, info: Info, input: UpdateProductInput) -> UpdateProductPayload:
        async def work(context: Context) -> UpdateProductPayload:
            product_id = ids.decode(input.id, "Product", "id")
            changes = provided(input, exclude={"id", "expected_version"})
            record = await context.transaction(
                lambda conn: products.update_product(
                    conn, product_id, changes, input.expected_version
                )
            )
            return UpdateProductPayload(product=Product.from_record(record))

        return await mutate(info, Permission.MANAGE_PRODUCTS, UpdateProductPayload, work)

    @strawberry.mutation(description="Create or update many products by SKU at once.")
    async def upsert_products(
        self, info: Info, input: UpsertProductsInput
    ) -> UpsertProductsPayload:
        async def work(context: Context) -> UpsertProductsPayload:
            items = [provided(item) for item in input.products]
            result = await context.transaction(lambda conn: products.upsert_products(conn, items))
            return UpsertProductsPayload(
                products=[Product.from_record(p) for p in result.products],
                created_count=result.created,
                updated_count=result.updated,
                unchanged_count=result.unchanged,
            )

        return await mutate(info, Permission.MANAGE_PRODUCTS, UpsertProductsPayload, work)
