"""Running a reservation request: together with the other requests arriving at the same
moment (coalescing.py, the default), or in a transaction of its own."""

from __future__ import annotations

from onhand.api.context import Context
from onhand.api.reservations.coalescing import Coalescer
from onhand.api.reservations.terms import reservation_terms
from onhand.inventory.reservations.reserving import Reserved, ReserveRequest, reserve

COALESCER = "reservations.coalescer"


async def submit(context: Context, request: ReserveRequest) -> Reserved:
    routing = any(line.warehouse is None for line in request.lines)
    terms = await reservation_terms(context, routing)
    change = context.change_context()
    services = context.services
    if services.settings.coalesce_reservations:
        coalescer = services.extras.get(COALESCER)
        if coalescer is None:
            coalescer = services.extras[COALESCER] = Coalescer(services.engine)
        return await coalescer.submit(request, change, terms)
    return await context.transaction(lambda conn: reserve(conn, request, change, terms))
