"""The permission matrix, made from the schema: every query, mutation and subscription, as
every role (a connector too), is refused FORBIDDEN exactly when the role's grants
(auth/roles.py GRANTS) lack the permission its row names. A new operation cannot ship without
a row: the rows must name every root field.

The calls are the schema's own (support/schema_calls.py: made-up but well-typed arguments),
so a permission checked after the arguments are resolved is still reached. Which channel a
channel-bound token may name (a connector of another channel) is swept by
test_channel_access.py over every operation that takes a channel; what an allowed call does
is each domain's own tests."""

from __future__ import annotations

from typing import Any

import pytest

from onhand.auth.roles import GRANTS, Permission, Role
from support import channels, factories
from support.client import Client
from support.schema_calls import SCHEMA, call
from support.ws import Subscriber

P = Permission
# Each root field and the permission it needs (None: any valid token).
PERMISSIONS: dict[str, Permission | None] = {
    "query.viewer": None,
    "query.node": None,  # each type's own (node's rows in test_permissions.py)
    "query.product": P.READ_CATALOG,
    "query.products": P.READ_CATALOG,
    "query.warehouse": P.READ_CATALOG,
    "query.warehouses": P.READ_CATALOG,
    "query.inventoryLevel": P.READ_STOCK,
    "query.inventoryLevels": P.READ_STOCK,
    "query.inventorySummary": P.READ_STOCK,
    "query.inventoryMovements": P.READ_AUDIT,
    "query.exportInventory": P.READ_STOCK,
    "query.fulfillmentPlan": P.READ_STOCK,
    "query.alerts": P.READ_STOCK,
    "query.latestSequence": P.READ_STOCK,
    "query.inventoryChanges": P.READ_STOCK,
    "query.transferOrder": P.READ_STOCK,
    "query.transferOrders": P.READ_STOCK,
    "query.channel": P.READ_CHANNEL,
    "query.channels": P.READ_CHANNEL,
    "query.channelInventory": P.READ_CHANNEL,
    "query.channelFeed": P.READ_CHANNEL,
    "query.channelSyncStatus": P.READ_CHANNEL,
    "query.channelsWithExcess": P.MANAGE_ALLOCATIONS,
    "query.productSalesByChannel": P.READ_AUDIT,
    "query.channelDemandBuffers": P.READ_CHANNEL,
    "query.reservation": P.RESERVE_STOCK,
    "query.reservations": P.RESERVE_STOCK,
    "query.expiredReservations": P.RESERVE_STOCK,
    "query.cycleCount": P.READ_AUDIT,
    "query.cycleCountReviews": P.READ_AUDIT,
    "query.reconciliationReport": P.READ_AUDIT,
    "query.sourceEvents": P.READ_AUDIT,
    "query.sourceSystems": P.READ_AUDIT,
    "query.importJob": P.READ_AUDIT,
    "query.importJobs": P.READ_AUDIT,
    "query.webhooks": P.MANAGE_WEBHOOKS,
    "query.webhookDeliveries": P.MANAGE_WEBHOOKS,
    "mutation.createWarehouse": P.MANAGE_WAREHOUSES,
    "mutation.updateWarehouse": P.MANAGE_WAREHOUSES,
    "mutation.createProduct": P.MANAGE_PRODUCTS,
    "mutation.updateProduct": P.MANAGE_PRODUCTS,
    "mutation.upsertProducts": P.MANAGE_PRODUCTS,
    "mutation.createInventoryLevel": P.MANAGE_STOCK,
    "mutation.setInventoryLevel": P.MANAGE_STOCK,
    "mutation.adjustInventory": P.MANAGE_STOCK,
    "mutation.transferInventory": P.MANAGE_STOCK,
    "mutation.createInventoryAuditLog": P.MANAGE_STOCK,
    "mutation.importInventory": P.MANAGE_STOCK,
    "mutation.reconcileInventory": P.MANAGE_STOCK,
    "mutation.recordCycleCount": P.MANAGE_STOCK,
    "mutation.approveCycleCountLine": P.MANAGE_STOCK,
    "mutation.rejectCycleCountLine": P.MANAGE_STOCK,
    "mutation.createTransferOrder": P.MANAGE_STOCK,
    "mutation.shipTransferOrder": P.MANAGE_STOCK,
    "mutation.receiveTransferOrder": P.MANAGE_STOCK,
    "mutation.cancelTransferOrder": P.MANAGE_STOCK,
    "mutation.resolveTransferDiscrepancy": P.MANAGE_STOCK,
    "mutation.acknowledgeAlert": P.MANAGE_STOCK,
    "mutation.resolveAlert": P.MANAGE_STOCK,
    "mutation.recordInventoryEvents": P.RECORD_EVENTS,
    "mutation.createChannel": P.MANAGE_CHANNELS,
    "mutation.updateChannel": P.MANAGE_CHANNELS,
    "mutation.setChannelInventory": P.MANAGE_ALLOCATIONS,
    "mutation.setChannelDemandBuffer": P.MANAGE_ALLOCATIONS,
    "mutation.recomputeDemandBuffers": P.MANAGE_ALLOCATIONS,
    "mutation.allocateInventoryToChannels": P.MANAGE_ALLOCATIONS,
    "mutation.reallocateUnsoldInventory": P.MANAGE_ALLOCATIONS,
    "mutation.acknowledgeChannelSync": P.READ_CHANNEL,
    "mutation.createReservation": P.RESERVE_STOCK,
    "mutation.reserveCart": P.RESERVE_STOCK,
    "mutation.releaseReservation": P.RESERVE_STOCK,
    "mutation.extendReservation": P.RESERVE_STOCK,
    "mutation.convertToOrderReservation": P.RESERVE_STOCK,
    "mutation.fulfillReservation": P.RESERVE_STOCK,
    "mutation.createWebhook": P.MANAGE_WEBHOOKS,
    "mutation.updateWebhook": P.MANAGE_WEBHOOKS,
    "mutation.deleteWebhook": P.MANAGE_WEBHOOKS,
    "mutation.retryWebhookDelivery": P.MANAGE_WEBHOOKS,
    "subscription.inventoryUpdated": P.READ_STOCK,
    "subscription.inventoryTransferred": P.READ_STOCK,
    "subscription.reservationChanged": P.RESERVE_STOCK,
    "subscription.channelAvailabilityChanged": P.READ_CHANNEL,
    "subscription.alertRaised": P.READ_STOCK,
    "subscription.alertResolved": P.READ_STOCK,
    "subscription.importProgress": P.READ_AUDIT,
}
ROLES = (Role.ADMIN, Role.OPERATOR, Role.STOREFRONT, Role.CONNECTOR)
ROOTS = (
    ("query", SCHEMA.query_type),
    ("mutation", SCHEMA.mutation_type),
    ("subscription", SCHEMA.subscription_type),
)
CALLS = [
    pytest.param(kind, name, *made, id=f"{kind}-{name}")
    for kind, root in ROOTS
    for name, field in sorted(root.fields.items())
    if (made := call(kind, name, field)) is not None
]


def allowed(role: Role, kind: str, name: str) -> bool:
    needed = PERMISSIONS[f"{kind}.{name}"]
    return needed is None or needed in GRANTS[role]


def codes(body: dict[str, Any]) -> set[str]:
    """Every code a response carries: top-level errors and a payload's errors."""
    found = {str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []}
    for value in (body.get("data") or {}).values():
        if isinstance(value, dict):
            found |= {e["code"] for e in value.get("errors") or []}
    return found


def test_every_root_field_has_a_row() -> None:
    fields = {f"{kind}.{name}" for kind, root in ROOTS for name in root.fields}
    assert set(PERMISSIONS) == fields, {
        "without a row": sorted(fields - set(PERMISSIONS)),
        "not in the schema": sorted(set(PERMISSIONS) - fields),
    }


@pytest.fixture
async def clients(
    admin: Client, http: Any, tokens: dict[Role, str], connector: Any
) -> dict[Role, Client]:
    await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    await channels.channel(admin, "MINE", ["DC-1"])
    made = {role: Client(http, tokens[role]) for role in ROLES if role in tokens}
    made[Role.CONNECTOR] = await connector("MINE")
    return made


@pytest.mark.parametrize(("kind", "name", "document", "variables"), CALLS)
async def test_each_role_is_refused_exactly_when_its_grants_lack_the_rows_permission(
    clients: dict[Role, Client],
    base_url: str,
    kind: str,
    name: str,
    document: str,
    variables: dict[str, Any],
) -> None:
    verdicts = {}
    # The roles that may do least first: an allowed call may change what the next one sees.
    for role in reversed(ROLES):
        if kind == "subscription":
            refused = await _subscription_refused(base_url, clients[role], document, variables)
        else:
            body = (await clients[role].post(document, variables)).json()
            refused = "FORBIDDEN" in codes(body)
        verdicts[role.value] = refused
    expected = {role.value: not allowed(role, kind, name) for role in ROLES}
    assert verdicts == expected


async def _subscription_refused(
    base_url: str, client: Client, document: str, variables: dict[str, Any]
) -> bool:
    async with Subscriber(base_url, client.token) as subscriber:
        await subscriber.start(document, variables)
        try:
            message = await subscriber.receive(seconds=0.5)
        except TimeoutError:
            return False  # listening: nothing happened yet
        if message["type"] == "error":
            errors = message["payload"]
        else:
            errors = message["payload"].get("errors") or []
        return any((e.get("extensions") or {}).get("code") == "FORBIDDEN" for e in errors)
