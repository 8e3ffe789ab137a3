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
    "levelId": "InventoryLevel",
    "movementId": "InventoryMovement",
    "channelId": "Channel",
    "reservationId": "Reservation",
    "alertId": "Alert",
}


def global_id(type_name: str, node_id: int) -> str:
    """The id GraphQL clients see (the same encoding as strawberry's relay GlobalID)."""
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def outward(payload: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for key, value in payload.items():
        if key in ID_TYPES and isinstance(value, int):
            converted[key] = global_id(ID_TYPES[key], value)
        elif key == "movementIds" and isinstance(value, list):
            converted[key] = [global_id("InventoryMovement", v) for v in value]
        else:
            converted[key] = value
    return converted


def event_body(event: Published) -> dict[str, Any]:
    return {
        "topic": event.topic,
        "sequence": event.sequence,
        "publishedAt": event.created_at.isoformat(),
        "data": outward(event.payload),
    }
