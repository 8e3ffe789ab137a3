"""Stock mutations: create and set levels, adjust and transfer stock."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import strawberry

from onhand.api.channels.access import channel_ref
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import IDEMPOTENCY_KEY, product_ref, warehouse_ref
from onhand.api.inventory.types import InventoryLevel, InventoryMovement, MovementType
from onhand.api.permissions import mutate
from onhand.auth.roles import Permission
from onhand.core.records import Level
from onhand.inventory import levels, stock

TIMESTAMP = strawberry.field(
    default=None, description="When it happened in the business (defaults to now)."
)


@strawberry.input(description="Start stocking a product at a warehouse.")
class CreateInventoryLevelInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    quantity: int = 0
    reserved_quantity: int = strawberry.field(
        default=0,
        description="Must be 0: reserved stock is held by reservations; make them with "
        "createReservation once the level exists.",
    )
    safety_stock: int = 0
    reorder_point: int = 0
    reorder_quantity: int = 0
    reason: str | None = None
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.input(description="Set absolute values (a count); omitted values stay as they are.")
class SetInventoryLevelInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    quantity: int | None = strawberry.field(default=None, description="Units on hand.")
    damaged: int | None = None
    quarantined: int | None = None
    safety_stock: int | None = None
    reorder_point: int | None = None
    reorder_quantity: int | None = None
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (VERSION_CONFLICT) unless the level is at this version."
    )
    reason: str | None = None
    reference_id: str | None = None
    timestamp: datetime | None = TIMESTAMP
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.input(description="Change on-hand stock by a delta.")
class AdjustInventoryInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    adjustment: int = strawberry.field(description="Units to add (+) or remove (-).")
    reason: str = strawberry.field(
        description="Why; a movement type name (RECEIPT, SALE, RETURN, DAMAGE, TRANSFER_OUT, "
        "TRANSFER_IN, CYCLE_COUNT) also sets the movement's type."
    )
    type: MovementType | None = None
    timestamp: datetime | None = TIMESTAMP
    reference_id: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = IDEMPOTENCY_KEY
    channel_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A SALE or RETURN: the channel it was made on, so that PROPORTIONAL and "
        "VELOCITY allocation count it (or channelCode).",
    )
    channel_code: str | None = None


@strawberry.input(description="Move stock between warehouses now (both legs at once).")
class TransferInventoryInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    from_warehouse_id: strawberry.ID | None = None
    from_warehouse_code: str | None = None
    to_warehouse_id: strawberry.ID | None = None
    to_warehouse_code: str | None = None
    quantity: int
    reason: str | None = strawberry.field(default=None, description="Default WAREHOUSE_TRANSFER.")
    reference_id: str | None = None
    timestamp: datetime | None = TIMESTAMP
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.type
class InventoryLevelPayload:
    inventory_level: InventoryLevel | None = None
    movement_id: strawberry.Private[int | None] = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @strawberry.field(description="The ledger row written (none when nothing changed).")
    async def movement(self, info: Info) -> InventoryMovement | None:
        if self.movement_id is None:
            return None
        entry = await info.context.loaders.movement.load(self.movement_id)
        return InventoryMovement.from_record(entry) if entry else None


@strawberry.type
class CreateInventoryLevelPayload(InventoryLevelPayload):
    pass


@strawberry.type
class SetInventoryLevelPayload(InventoryLevelPayload):
    pass


@strawberry.type
class AdjustInventoryPayload(InventoryLevelPayload):
    pass


@strawberry.type
class TransferInventoryPayload:
    from_inventory_level: InventoryLevel | None = None
    to_inventory_level: InventoryLevel | None = None
    movements: list[InventoryMovement] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


LP = TypeVar("LP", bound="InventoryLevelPayload")


def level_payload(payload: type[LP], level: Level, movement_id: int | None) -> LP:
    return payload(inventory_level=InventoryLevel.from_record(level), movement_id=movement_id)


@strawberry.type
class InventoryMutation:
    @strawberry.mutation
    async def create_inventory_level(
        self, info: Info, input: CreateInventoryLevelInput
    ) -> CreateInventoryLevelPayload:
        async def work(context: Context) -> CreateInventoryLevelPayload:
            request = levels.CreateLevel(
                product=product_ref(input.product_id, input.sku),
                warehouse=warehouse_ref(input.warehouse_id, input.warehouse_code),
                quantity=input.quantity,
                reserved_quantity=input.reserved_quantity,
                safety_stock=input.safety_stock,
                reorder_point=input.reorder_point,
                reorder_quantity=input.reorder_quantity,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
            change = await context.transaction(
                lambda conn: levels.create_level(conn, request, context.change_context())
            )
            return level_payload(CreateInventoryLevelPayload, change.level, change.movement_id)

        return await mutate(info, Permission.MANAGE_STOCK, CreateInventoryLevelPayload, work)

    @strawberry.mutation
    async def set_inventory_level(
        self, info: Info, input: SetInventoryLevelInput
    ) -> SetInventoryLevelPayload:
        async def work(context: Context) -> SetInventoryLevelPayload:
            request = levels.SetLevel(
                product=product_ref(input.product_id, input.sku),
                warehouse=warehouse_ref(input.warehouse_id, input.warehouse_code),
                quantity=input.quantity,
                damaged=input.damaged,
                quarantined=input.quarantined,
                safety_stock=input.safety_stock,
                reorder_point=input.reorder_point,
                reorder_quantity=input.reorder_quantity,
                expected_version=input.expected_version,
                reason=input.reason,
                occurred_at=input.timestamp,
                reference_id=input.reference_id,
                idempotency_key=input.idempotency_key,
            )
            change = await context.transaction(
                lambda conn: levels.set_level(conn, request, context.change_context())
            )
            return level_payload(SetInventoryLevelPayload, change.level, change.movement_id)

        return await mutate(info, Permission.MANAGE_STOCK, SetInventoryLevelPayload, work)

    @strawberry.mutation
    async def adjust_inventory(
        self, info: Info, input: AdjustInventoryInput
    ) -> AdjustInventoryPayload:
        async def work(context: Context) -> AdjustInventoryPayload:
            request = stock.Adjust(
                product=product_ref(input.product_id, input.sku),
                warehouse=warehouse_ref(input.warehouse_id, input.warehouse_code),
                adjustment=input.adjustment,
                reason=input.reason,
                type=input.type,
                occurred_at=input.timestamp,
                reference_id=input.reference_id,
                correlation_id=input.correlation_id,
                idempotency_key=input.idempotency_key,
                channel=channel_ref(context, input.channel_id, input.channel_code),
            )
            change = context.change_context()

            async def alone() -> stock.Adjusted:
                # Adjustments of one level coalesce into shared transactions under load (a
                # hot SKU's row lock and commit paid once per batch), each in a savepoint;
                # two with the same idempotency key never share one.
                return await context.grouped(
                    ("adjustInventory", request.product, request.warehouse),
                    lambda conn: stock.adjust(conn, request, change),
                    exclusive=request.idempotency_key,
                )

            if not context.settings.coalesce_writes:
                result = await alone()
            else:
                # A caller's adjustments of any levels, written together by one statement.
                result = await context.services.adjustments.submit(request, change, alone)
            return level_payload(AdjustInventoryPayload, result.level, result.movement_id)

        return await mutate(info, Permission.MANAGE_STOCK, AdjustInventoryPayload, work)

    @strawberry.mutation
    async def transfer_inventory(
        self, info: Info, input: TransferInventoryInput
    ) -> TransferInventoryPayload:
        async def work(context: Context) -> TransferInventoryPayload:
            request = stock.Transfer(
                product=product_ref(input.product_id, input.sku),
                from_warehouse=warehouse_ref(
                    input.from_warehouse_id,
                    input.from_warehouse_code,
                    "fromWarehouseId",
                    "fromWarehouseCode",
                ),
                to_warehouse=warehouse_ref(
                    input.to_warehouse_id,
                    input.to_warehouse_code,
                    "toWarehouseId",
                    "toWarehouseCode",
                ),
                quantity=input.quantity,
                reason=input.reason,
                occurred_at=input.timestamp,
                reference_id=input.reference_id,
                idempotency_key=input.idempotency_key,
            )
            result = await context.transaction(
                lambda conn: stock.transfer(conn, request, context.change_context())
            )
            found = await info.context.loaders.movement.load_many(result.movement_ids)
            return TransferInventoryPayload(
                from_inventory_level=InventoryLevel.from_record(result.from_level),
                to_inventory_level=InventoryLevel.from_record(result.to_level),
                movements=[InventoryMovement.from_record(m) for m in found if m],
            )

        return await mutate(info, Permission.MANAGE_STOCK, TransferInventoryPayload, work)
