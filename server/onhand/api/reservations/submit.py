"""Running a reservation request: together with the other requests arriving at the same
moment (inventory/reservations/coalescing.py, the default), or in a transaction of its own."""

from __future__ import annotations

from onhand.api.context import Context
from onhand.api.reservations.terms import reservation_terms
from onhand.inventory.reservations.reserving import Reserved, ReserveRequest, reserve


async def submit(context: Context, request: ReserveRequest) -> Reserved:
    routing = any(line.warehouse is None for line in request.lines)
    terms = await reservation_terms(context, routing)
    change = context.change_context()
    if context.settings.coalesce_reservations:
        return await context.services.coalescer.submit(request, change, terms)
    return await context.transaction(lambda conn: reserve(conn, request, change, terms))
