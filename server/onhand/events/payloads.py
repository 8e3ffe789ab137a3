"""Events as outside systems receive them (webhooks, channel feeds): camelCase fields and the
same opaque global ids the GraphQL API uses."""

from __future__ import annotations

import base64
from typing import Any

from onhand.events.envelope import Published

# Payload fields holding ids, and the type each names.
ID_TYPES = {
    "productId": "Product",
    "warehouseId": "Warehouse",
    "fromWarehouseId": "Warehouse",
    "toWarehouseId": "Warehouse",
    "destinationWarehouseId": "Warehouse",
    "levelId": "InventoryLevel",
    "movementId": "InventoryMovement",
    "channelId": "Channel",
    "reservationId": "Reservation",
    "alertId": "Alert",
    "transferOrderId": "TransferOrder",
    "sourceEventId": "SourceEvent",
    "webhookId": "Webhook",
    "deliveryId": "WebhookDelivery",
    "kitId": "Product",
    "componentId": "Product",
    "preorderId": "Preorder",
}
LIST_ID_TYPES = {
    "movementIds": "InventoryMovement",
    "reservationIds": "Reservation",
    "productIds": "Product",  # a bulk alert's summary (inventory/alerts/bulk.py)
    "warehouseIds": "Warehouse",
}


def global_id(type_name: str, node_id: int) -> str:
    """The id GraphQL clients see (the same encoding as strawberry's relay GlobalID)."""
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def camel(key: str) -> str:
    """A stored field name as the GraphQL types spell it (on_hand -> onHand)."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def outward(payload: Any) -> Any:
    """A stored payload as outside systems read it, at every depth: camelCase names (the
    ledger's before/after buckets are stored as column names) and global ids."""
    if isinstance(payload, list):
        return [outward(item) for item in payload]
    if not isinstance(payload, dict):
        return payload
    converted: dict[str, Any] = {}
    for key, value in payload.items():
        name = camel(key)
        if name in ID_TYPES and isinstance(value, int) and not isinstance(value, bool):
            converted[name] = global_id(ID_TYPES[name], value)
        elif name in LIST_ID_TYPES and isinstance(value, list):
            converted[name] = [
                global_id(LIST_ID_TYPES[name], v) if isinstance(v, int) else v for v in value
            ]
        else:
            converted[name] = outward(value)
    return converted


def event_body(event: Published) -> dict[str, Any]:
    return {
        "topic": event.topic,
        "sequence": event.sequence,
        "publishedAt": event.created_at.isoformat(),
        "data": outward(event.payload),
    }
