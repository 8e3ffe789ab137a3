"""Every event as outside systems read it (webhook bodies, OtherEvent payloads, alert
details) uses the GraphQL API's names: camelCase fields at every depth and global ids."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.events.payloads import ID_TYPES, LIST_ID_TYPES, event_body
from support import channels, factories
from support.client import Client, operation

CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")
# Fields named ...Id that are not ids of GraphQL nodes: numbers and references of their own.
NOT_NODE_IDS = {
    "changeId",  # the ledger change (several movements), a number
    "runId",  # a reconciliation run, a number
    "discrepancyId",  # a transfer order line's discrepancy, a number
    "eventId",  # the source system's own id
    "referenceId",
    "cartReferenceId",
    "correlationId",
    "externalProductId",
    "externalVariantId",
    "variantId",
}
# Topics the scenario below makes, each of which must be checked.
MADE = {
    Topic.INVENTORY_UPDATED,
    Topic.INVENTORY_TRANSFERRED,
    Topic.RESERVATION_CHANGED,
    Topic.CHANNEL_ALLOCATION_CHANGED,
    Topic.TRANSFER_ORDER_CHANGED,
    Topic.TRANSFER_DISCREPANCY,
    Topic.SOURCE_EVENT_RECORDED,
    Topic.ALERT_RAISED,
    Topic.RECONCILIATION_COMPLETED,
    Topic.KIT_AVAILABILITY_CHANGED,
    Topic.SHORTFALL,
    Topic.PREORDER_CHANGED,
}


def problems_in(value: Any, path: str = "data") -> list[str]:
    found = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            found += problems_in(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if not CAMEL.fullmatch(key):
                found.append(f"{where}: not camelCase")
            if key in ID_TYPES or key in LIST_ID_TYPES:
                expected = ID_TYPES.get(key) or LIST_ID_TYPES[key]
                for one in item if isinstance(item, list) else [item]:
                    if one is not None and not _global_id_of(one, expected):
                        found.append(f"{where}: {one!r} is not a {expected} id")
            elif key.endswith(("Id", "Ids")) and key not in NOT_NODE_IDS:
                found.append(f"{where}: an id field without a type")
            found += problems_in(item, where)
    return found


def _global_id_of(value: Any, type_name: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        kind, number = base64.b64decode(value, validate=True).decode().split(":")
    except ValueError:
        return False
    return kind == type_name and number.isdigit()


async def scenario(admin: Client, storefront: Client) -> None:
    await channels.shop(admin, "MARKET")
    ids = await factories.stocked(admin, "SHAPE-1", {"DC-1": 20, "DC-2": 5})
    await factories.adjust(admin, "SHAPE-1", "DC-1", -1)
    moved = await admin(
        operation("TransferInventory"),
        {
            "input": {
                "sku": "SHAPE-1",
                "fromWarehouseCode": "DC-1",
                "toWarehouseCode": "DC-2",
                "quantity": 2,
            }
        },
    )
    assert moved["transferInventory"]["errors"] == []
    held = await channels.reserve(storefront, sku="SHAPE-1", quantity=1, channelCode="MARKET")
    assert held["errors"] == [], held
    short = await channels.reserve_cart(
        storefront,
        referenceId="order-1",
        type="ORDER",
        channelCode="MARKET",
        allowPartial=True,
        lines=[{"sku": "SHAPE-1", "quantity": 1000}],
    )
    assert short["failures"], short
    allocated = await admin(
        operation("SetChannelInventory"),
        {"input": {"sku": "SHAPE-1", "channelCode": "MARKET", "allocatedQuantity": 10}},
    )
    assert allocated["setChannelInventory"]["errors"] == []
    order = await admin(
        "mutation($input: CreateTransferOrderInput!) { createTransferOrder(input: $input)"
        " { transferOrder { id lines { id } } errors { code } } }",
        {
            "input": {
                "fromWarehouseCode": "DC-1",
                "toWarehouseCode": "DC-2",
                "items": [{"sku": "SHAPE-1", "quantity": 3}],
            }
        },
    )
    made = order["createTransferOrder"]["transferOrder"]
    shipped = await admin(
        "mutation($id: ID!) { shipTransferOrder(input: {id: $id}) { errors { code } } }",
        {"id": made["id"]},
    )
    assert shipped["shipTransferOrder"]["errors"] == []
    received = await admin(
        "mutation($input: ReceiveTransferOrderInput!) { receiveTransferOrder(input: $input)"
        " { errors { code } } }",
        {
            "input": {
                "id": made["id"],
                "items": [
                    {
                        "lineId": made["lines"][0]["id"],
                        "quantity": 2,
                        "closeShort": True,
                        "discrepancyReason": "one lost",
                    }
                ],
            }
        },
    )
    assert received["receiveTransferOrder"]["errors"] == []
    recorded = await admin(
        "mutation($input: RecordInventoryEventsInput!) { recordInventoryEvents(input: $input)"
        " { results { status errors { code message } } errors { code } } }",
        {
            "input": {
                "events": [
                    {
                        "sourceSystem": "ERP",
                        "eventId": "e-1",
                        "sequence": 1,
                        "type": "RECEIPT",
                        "sku": "SHAPE-1",
                        "warehouseCode": "DC-2",
                        "quantityDelta": 4,
                    }
                ]
            }
        },
    )
    assert recorded["recordInventoryEvents"]["errors"] == []
    [result] = recorded["recordInventoryEvents"]["results"]
    assert result["errors"] == [], result
    # A preorder, converted when stock comes.
    await factories.stocked(admin, "SHAPE-3", {"DC-1": 0})
    await admin.mutate(
        "setPreorderCap", operation("SetPreorderCap"), {"input": {"sku": "SHAPE-3", "cap": 5}}
    )
    await admin.mutate(
        "createPreorder",
        operation("CreatePreorder"),
        {"input": {"sku": "SHAPE-3", "quantity": 2, "channelCode": "MARKET"}},
    )
    await factories.adjust(admin, "SHAPE-3", "DC-1", 2)
    # Out of stock: an alert.
    await factories.stocked(admin, "SHAPE-2", {"DC-1": 1})
    # A kit of it: its change is announced for the kit too.
    await factories.product(admin, "SHAPE-KIT")
    await admin.mutate(
        "setKitComponents",
        operation("SetKitComponents"),
        {"input": {"sku": "SHAPE-KIT", "components": [{"sku": "SHAPE-2", "quantity": 1}]}},
    )
    await factories.adjust(admin, "SHAPE-2", "DC-1", -1)
    reconciled = await admin(
        'mutation { reconcileInventory(input: {warehouseCode: "DC-1"}) { errors { code } } }'
    )
    assert reconciled["reconcileInventory"]["errors"] == []
    assert ids


async def published(engine: AsyncEngine, topics: set[Topic]) -> list[Published]:
    """Every event, once those of each topic are published (or after 20 s)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        if True:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT sequence, topic, payload, product_id, warehouse_id,"
                            " channel_id, created_at FROM outbox WHERE sequence IS NOT NULL"
                            " ORDER BY sequence"
                        )
                    )
                ).all()
            events = [Published.from_row(row) for row in rows]
            if topics <= {e.topic for e in events}:
                return events
            if asyncio.get_running_loop().time() > deadline:
                return events
            await asyncio.sleep(0.1)


async def test_every_event_speaks_the_apis_names(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    await scenario(admin, storefront)
    events = await published(engine, {str(t) for t in MADE})  # type: ignore[misc]
    found = {}
    for event in events:
        body = event_body(event)
        found[event.topic] = problems_in(body["data"])
    assert set(found) >= {str(t) for t in MADE}
    assert {topic: p for topic, p in found.items() if p} == {}


async def test_an_alerts_details_and_an_other_events_payload_are_public_too(
    admin: Client, storefront: Client, engine: AsyncEngine
) -> None:
    start = (await admin("{ latestSequence }"))["latestSequence"]
    await scenario(admin, storefront)
    await published(engine, {str(Topic.RECONCILIATION_COMPLETED)})
    alerts = await admin("{ alerts(first: 50) { nodes { kind details } } }")
    details = [a["details"] for a in alerts["alerts"]["nodes"]]
    assert details
    assert [p for d in details for p in problems_in(d)] == []
    changes = await admin(
        "query($after: Long!) { inventoryChanges(after: $after, first: 250,"
        " topics: [TRANSFER_ORDER_CHANGED, SOURCE_EVENT_RECORDED, RECONCILIATION_COMPLETED])"
        " { events { __typename ... on OtherEvent { topic payload } } } }",
        {"after": start},
    )
    payloads = [e["payload"] for e in changes["inventoryChanges"]["events"] if "payload" in e]
    assert payloads
    assert [p for payload in payloads for p in problems_in(payload)] == []
