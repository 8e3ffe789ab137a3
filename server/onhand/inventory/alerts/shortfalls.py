"""ORDER_SHORTFALL: an order reserved only in part (a SHORTFALL event of an ORDER), one alert
per order and product while unresolved. Nothing clears it by itself (the order was accepted
short): an operator resolves it once the missing units are found or the order is changed."""

from __future__ import annotations

from typing import Any

from onhand.inventory.alerts.model import AlertKind
from onhand.inventory.alerts.rules import Draft

# What the alert keeps of the event: what a person needs to chase the missing units.
_DETAILS = ("referenceId", "line", "requested", "reserved", "missing", "available", "reason")


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def order_shortfall(sequence: int, payload: dict[str, Any], sku: str) -> Draft:
    """The alert a SHORTFALL event of an order raises (ids from the payload are trusted only
    when they are whole numbers: one malformed event must never stop the evaluator)."""
    order = payload.get("referenceId")
    product_id = _whole(payload.get("productId"))
    missing = _whole(payload.get("missing"))
    requested = _whole(payload.get("requested"))
    subject = f"order:{order}:{product_id}" if order else f"shortfall:{sequence}"
    return Draft(
        AlertKind.ORDER_SHORTFALL,
        subject,
        f"Order {order or '(no reference)'} is short {missing} of {requested} {sku}",
        details={
            **{key: payload.get(key) for key in _DETAILS},
            "quantity": missing,
        },
        product_id=product_id,
        warehouse_id=_whole(payload.get("warehouseId")),
        channel_id=_whole(payload.get("channelId")),
    )
