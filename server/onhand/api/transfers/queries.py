"""Queries of transfer orders (READ_STOCK)."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.inputs import warehouse_filter_id
from onhand.api.pagination import paginate
from onhand.api.permissions import requires
from onhand.api.transfers.types import (
    TransferOrder,
    TransferOrderConnection,
    TransferOrderStatusEnum,
    load_transfer_order,
)
from onhand.auth.roles import Permission
from onhand.inventory.transfers import orders as transfers

STOCK = [requires(Permission.READ_STOCK)]


@strawberry.input
class TransferOrderFilterInput:
    status: list[TransferOrderStatusEnum] | None = None  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    warehouse_id: strawberry.ID | None = strawberry.field(
        default=None, description="Orders from or to this warehouse."
    )
    warehouse_code: str | None = None
    from_warehouse_id: strawberry.ID | None = None
    from_warehouse_code: str | None = None
    to_warehouse_id: strawberry.ID | None = None
    to_warehouse_code: str | None = None


@strawberry.type
class TransferQuery:
    @strawberry.field(permission_classes=STOCK, description="One transfer order, by id or number.")
    async def transfer_order(
        self, info: Info, id: strawberry.ID | None = None, number: str | None = None
    ) -> TransferOrder | None:
        if id is not None:
            order_id = ids.decode(id, "TransferOrder", "id")
        elif number is not None and number.startswith("TO-") and number[3:].isdigit():
            order_id = int(number[3:])
        else:
            return None
        if not 0 < order_id <= ids.MAX_ID:
            return None
        record = await load_transfer_order(info, order_id)
        return TransferOrder.from_record(record) if record else None

    @strawberry.field(permission_classes=STOCK, description="Transfer orders, newest first.")
    async def transfer_orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: TransferOrderFilterInput | None = None,
    ) -> TransferOrderConnection:
        given = filter or TransferOrderFilterInput()
        listing = transfers.transfer_listing(
            transfers.TransferFilter(
                statuses=tuple(given.status or ()),
                warehouse_id=await warehouse_filter_id(
                    info, given.warehouse_id, given.warehouse_code, "filter.warehouseId"
                ),
                from_warehouse_id=await warehouse_filter_id(
                    info,
                    given.from_warehouse_id,
                    given.from_warehouse_code,
                    "filter.fromWarehouseId",
                ),
                to_warehouse_id=await warehouse_filter_id(
                    info, given.to_warehouse_id, given.to_warehouse_code, "filter.toWarehouseId"
                ),
            )
        )

        return await paginate(
            info, listing, TransferOrder.from_row, first, after, TransferOrderConnection
        )
