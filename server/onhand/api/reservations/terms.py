"""What reservations take from configuration and from the process: default lifetimes, limits,
and how busy each warehouse is (the process's cache, inventory/routing/utilization.py)."""

from __future__ import annotations

from collections.abc import Mapping

from onhand.api.context import Context
from onhand.inventory.reservations.requests import Terms
from onhand.inventory.routing.planning import WarehouseKey


async def reservation_terms(context: Context, routing: bool = True) -> Terms:
    """`routing`: whether some line needs a warehouse chosen (only then is utilization read)."""
    settings = context.settings
    busy: Mapping[WarehouseKey, float] = {}
    if routing:
        busy = await context.services.utilization.get()
    return Terms(
        cart_ttl=settings.cart_reservation_ttl,
        transfer_ttl=settings.transfer_reservation_ttl,
        max_lines=settings.max_cart_lines,
        utilization=busy,
    )
