"""Inputs shared by reservation mutations and fulfilment plans."""

from __future__ import annotations

import strawberry

from onhand.inventory.routing.planning import Destination


@strawberry.input(description="Where an order ships; routing uses latitude and longitude.")
class ShippingAddressInput:
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None


def destination(address: ShippingAddressInput | None) -> Destination | None:
    if address is None:
        return None
    return Destination(address.latitude, address.longitude)
