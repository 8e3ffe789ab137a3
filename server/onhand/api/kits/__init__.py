"""Kits over GraphQL: setKitComponents (mutation), Product.kitComponents, the component holds
of a kit reservation, and KIT_AVAILABILITY_CHANGED events. Open `mutations.py` first."""
