"""createInventoryAuditLog: a note on a level, written to the ledger as an AUDIT movement."""

from __future__ import annotations

from datetime import datetime

import strawberry

from onhand.api.context import Context, Info
from onhand.api.inputs import IDEMPOTENCY_KEY, product_ref, warehouse_ref
from onhand.api.inventory.mutations import TIMESTAMP, InventoryLevelPayload, level_payload
from onhand.api.permissions import mutate
from onhand.auth.roles import Permission
from onhand.inventory import audit


@strawberry.input(description="A note on a level for the audit trail; it changes no quantity.")
class CreateInventoryAuditLogInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    warehouse_id: strawberry.ID | None = None
    warehouse_code: str | None = None
    reason: str = strawberry.field(description="The note: what was seen or done, and why.")
    reference_id: str | None = strawberry.field(
        default=None, description="The document it is about (an order, a ticket, a count sheet)."
    )
    correlation_id: str | None = None
    timestamp: datetime | None = TIMESTAMP
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.type
class CreateInventoryAuditLogPayload(InventoryLevelPayload):
    pass


@strawberry.type
class InventoryAuditMutation:
    @strawberry.mutation(
        description="Write a note on a level to the ledger: an AUDIT movement with the actor, "
        "reason and reference, the quantities as they stand, and no change to them, to the "
        "level's version or to its events."
    )
    async def create_inventory_audit_log(
        self, info: Info, input: CreateInventoryAuditLogInput
    ) -> CreateInventoryAuditLogPayload:
        async def work(context: Context) -> CreateInventoryAuditLogPayload:
            request = audit.AuditNote(
                product=product_ref(input.product_id, input.sku),
                warehouse=warehouse_ref(input.warehouse_id, input.warehouse_code),
                reason=input.reason,
                reference_id=input.reference_id,
                correlation_id=input.correlation_id,
                occurred_at=input.timestamp,
                idempotency_key=input.idempotency_key,
            )
            noted = await context.transaction(
                lambda conn: audit.record_note(conn, request, context.change_context())
            )
            return level_payload(CreateInventoryAuditLogPayload, noted.level, noted.movement_id)

        return await mutate(info, Permission.MANAGE_STOCK, CreateInventoryAuditLogPayload, work)
