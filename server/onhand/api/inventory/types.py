"""GraphQL types of stock: levels, summaries and ledger movements."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from onhand.api import ids
from onhand.api.context import Info
from onhand.api.pagination import Connection, paginate
from onhand.api.permissions import check
from onhand.api.products.types import Product
from onhand.api.warehouses.types import Warehouse
from onhand.auth.roles import Permission
from onhand.core import records
from onhand.core.errors import DomainError, ErrorCode
from onhand.inventory.ledger import MovementSource, MovementType
from onhand.inventory.levels import LevelFilter, ProductTotals, level_listing
from onhand.inventory.movements import MovementFilter, movement_listing

MovementTypeEnum = strawberry.enum(MovementType, name="MovementType")
MovementSourceEnum = strawberry.enum(
    MovementSource,
    name="MovementSource",
    description="MANUAL: a person (admin, operator). API: an integration (storefront, "
    "connector). SYSTEM: onhand itself (expiry, reconciliation). IMPORT: a CSV import. "
    "EXTERNAL: an event an ERP or warehouse system pushed (recordInventoryEvents).",
)


MinAvailable = Annotated[
    int | None,
    strawberry.argument(
        description="Only warehouses where at least this many units are available."
    ),
]


async def _levels_of_product(
    info: Info, product_id: int, min_available: int | None
) -> list[InventoryLevel]:
    if min_available is not None and min_available < 0:
        raise DomainError.of(
            ErrorCode.INVALID,
            f"minAvailable must not be negative (got {min_available})",
            "minAvailable",
        )
    found = await info.context.loaders.levels_of_product.load(product_id)
    return [
        InventoryLevel.from_record(level)
        for level in found or []
        if min_available is None or level.available >= min_available
    ]


async def _product(info: Info, product_id: int) -> Product:
    record = await info.context.loaders.product.load(product_id)
    assert record is not None  # a level's product cannot be deleted
    return Product.from_record(record)


async def _warehouse(info: Info, warehouse_id: int) -> Warehouse:
    record = await info.context.loaders.warehouse.load(warehouse_id)
    assert record is not None
    return Warehouse.from_record(record)


@strawberry.type(description="Quantities of every stock bucket of a level.")
class StockQuantities:
    on_hand: int
    reserved: int
    committed: int
    incoming: int
    damaged: int
    quarantined: int
    safety_stock: int
    available: int


@strawberry.type(
    description="Stock of one product at one warehouse. available = onHand - reserved - "
    "committed - damaged - quarantined - safetyStock; it is negative only when safety stock "
    "exceeds the free stock, or when the warehouse allows backorders."
)
class InventoryLevel(relay.Node):
    id: relay.NodeID[int]
    product_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int]
    quantity: int = strawberry.field(description="Units physically on hand (same as onHand).")
    on_hand: int
    reserved: int = strawberry.field(description="Held by active cart and transfer reservations.")
    committed: int = strawberry.field(description="Held by orders not yet shipped.")
    incoming: int = strawberry.field(description="In transit to this warehouse.")
    damaged: int
    quarantined: int
    available: int
    safety_stock: int
    reorder_point: int
    reorder_quantity: int
    version: int = strawberry.field(
        description="1 when the level is made; each movement adds one, so a level created "
        "with stock is at 2 (its INITIAL movement) and a change of k movements adds k. See "
        "expectedVersion."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, level: records.Level) -> InventoryLevel:
        return cls(
            id=level.id,
            product_id=level.product_id,
            warehouse_id=level.warehouse_id,
            quantity=level.on_hand,
            on_hand=level.on_hand,
            reserved=level.reserved,
            committed=level.committed,
            incoming=level.incoming,
            damaged=level.damaged,
            quarantined=level.quarantined,
            available=level.available,
            safety_stock=level.safety_stock,
            reorder_point=level.reorder_point,
            reorder_quantity=level.reorder_quantity,
            version=level.version,
            created_at=level.created_at,
            updated_at=level.updated_at,
        )

    @classmethod
    def from_row(cls, row: Any) -> InventoryLevel:
        return cls.from_record(records.Level.from_row(row))

    @classmethod
    async def of_product(
        cls, info: Info, product_id: int, min_available: int | None = None
    ) -> list[InventoryLevel]:
        """The product's level at each warehouse that stocks it (Product.inventoryLevels),
        only those with at least `min_available` available when given."""
        check(info, Permission.READ_STOCK)
        return await _levels_of_product(info, product_id, min_available)

    @classmethod
    async def of_warehouse(
        cls,
        info: Info,
        warehouse_id: int,
        first: int | None,
        after: str | None,
        *,
        below_safety_stock: bool,
        include_zero: bool,
    ) -> Connection[InventoryLevel]:
        """A page of the warehouse's levels (Warehouse.inventoryLevels)."""
        check(info, Permission.READ_STOCK)
        listing = level_listing(
            LevelFilter(
                warehouse_id=warehouse_id,
                below_safety_stock=below_safety_stock,
                include_zero=include_zero,
            )
        )
        return await paginate(info, listing, cls.from_row, first, after, InventoryLevelConnection)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[InventoryLevel | None]:
        check(info, Permission.READ_STOCK)
        found = await info.context.loaders.level.load_many(ids.node_ids(node_ids, "InventoryLevel"))
        return [cls.from_record(r) if r else None for r in found]

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return await _product(info, self.product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse:
        return await _warehouse(info, self.warehouse_id)

    @strawberry.field(description="This level's ledger, newest first.")
    async def movements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[InventoryMovement]:
        check(info, Permission.READ_AUDIT)
        listing = movement_listing(MovementFilter(level_id=self.id))
        return await paginate(
            info, listing, InventoryMovement.from_row, first, after, InventoryMovementConnection
        )


@strawberry.type(description="One immutable ledger row: a change to one level.")
class InventoryMovement(relay.Node):
    id: relay.NodeID[int]
    product_id: strawberry.Private[int]
    warehouse_id: strawberry.Private[int]
    level_id: strawberry.Private[int]
    change_id: int = strawberry.field(
        description=(
            "Shared by the movements of one change: a transfer's two legs, or adjustments"
            " by one caller that arrived together and were written together."
        )
    )
    type: MovementType
    reason: str | None
    source: MovementSource
    actor: str = strawberry.field(description="The name of the API token that made the change.")
    reference_id: str | None
    correlation_id: str | None
    occurred_at: datetime = strawberry.field(description="The business time of the change.")
    recorded_at: datetime
    quantity: int = strawberry.field(
        description="The change of on-hand units (+ or -): 0 for movements that change other "
        "buckets only (RESERVED, RELEASED, EXPIRED, COMMITTED, IN_TRANSIT ...); `delta` has "
        "the change of every bucket."
    )
    previous_quantity: int
    new_quantity: int
    delta: StockQuantities
    before: StockQuantities
    after: StockQuantities

    @classmethod
    async def load(cls, info: Info, movement_id: int | None) -> InventoryMovement | None:
        """The movement with this id, through the request's dataloader (None: none)."""
        if movement_id is None:
            return None
        entry = await info.context.loaders.movement.load(movement_id)
        return cls.from_record(entry) if entry else None

    @classmethod
    def from_record(cls, entry: records.LedgerEntry) -> InventoryMovement:
        buckets = ("on_hand", "reserved", "committed", "incoming", "damaged", "quarantined")
        after = {b: getattr(entry, b) for b in (*buckets, "safety_stock")}
        delta = {b: getattr(entry, f"d_{b}") for b in (*buckets, "safety_stock")}
        before = {b: after[b] - delta[b] for b in after}
        return cls(
            id=entry.id,
            product_id=entry.product_id,
            warehouse_id=entry.warehouse_id,
            level_id=entry.level_id,
            change_id=entry.change_id,
            type=MovementType(entry.type),
            reason=entry.reason,
            source=MovementSource(entry.source),
            actor=entry.actor,
            reference_id=entry.reference_id,
            correlation_id=entry.correlation_id,
            occurred_at=entry.occurred_at,
            recorded_at=entry.recorded_at,
            quantity=entry.d_on_hand,
            previous_quantity=before["on_hand"],
            new_quantity=entry.on_hand,
            delta=_quantities(delta),
            before=_quantities(before),
            after=_quantities(after),
        )

    @classmethod
    def from_row(cls, row: Any) -> InventoryMovement:
        return cls.from_record(records.LedgerEntry.from_row(row))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]  # one implementation of strawberry's overloads
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[InventoryMovement | None]:
        check(info, Permission.READ_AUDIT)
        found = await info.context.loaders.movement.load_many(
            ids.node_ids(node_ids, "InventoryMovement")
        )
        return [cls.from_record(r) if r else None for r in found]

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return await _product(info, self.product_id)

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse:
        return await _warehouse(info, self.warehouse_id)

    @strawberry.field
    async def inventory_level(self, info: Info) -> InventoryLevel | None:
        level = await info.context.loaders.level.load(self.level_id)
        return InventoryLevel.from_record(level) if level else None


def _quantities(values: dict[str, int]) -> StockQuantities:
    available = (
        values["on_hand"]
        - values["reserved"]
        - values["committed"]
        - values["damaged"]
        - values["quarantined"]
        - values["safety_stock"]
    )
    return StockQuantities(**values, available=available)


@strawberry.type(description="A product's stock summed across warehouses, with the breakdown.")
class InventorySummary:
    product_id: strawberry.Private[int]
    quantity: int = strawberry.field(description="Units on hand in all warehouses.")
    on_hand: int
    reserved: int
    committed: int
    incoming: int
    damaged: int
    quarantined: int
    safety_stock: int
    available: int = strawberry.field(
        description="Sum of each warehouse's available, counting none below zero."
    )
    warehouse_count: int

    @classmethod
    def from_totals(cls, totals: ProductTotals) -> InventorySummary:
        return cls(
            product_id=totals.product_id,
            quantity=totals.on_hand,
            on_hand=totals.on_hand,
            reserved=totals.reserved,
            committed=totals.committed,
            incoming=totals.incoming,
            damaged=totals.damaged,
            quarantined=totals.quarantined,
            safety_stock=totals.safety_stock,
            available=totals.available,
            warehouse_count=totals.warehouses,
        )

    @classmethod
    async def of_product(cls, info: Info, product_id: int) -> InventorySummary:
        """The product's stock summed across warehouses (Product.inventory)."""
        check(info, Permission.READ_STOCK)
        return cls.from_totals(await info.context.loaders.totals_of_product.load(product_id))

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return await _product(info, self.product_id)

    @strawberry.field(description="The level at each warehouse that stocks the product.")
    async def levels(self, info: Info, min_available: MinAvailable = None) -> list[InventoryLevel]:
        return await _levels_of_product(info, self.product_id, min_available)


InventoryLevelConnection = Connection[InventoryLevel]
InventoryMovementConnection = Connection[InventoryMovement]
