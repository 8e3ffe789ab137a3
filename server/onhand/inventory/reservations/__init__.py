"""Reservations: stock held for a cart, an order or a transfer, until it expires, is released,
is converted or ships.

Open `model.py` first (the kinds and the record), then `reserving.py` (making holds),
`changes.py` (converting, extending) and `endings.py` (release, expiry, fulfilment).
`pickup.py` (holds for click-and-collect) and `shortfalls.py` (SHORTFALL events of partly
reserved carts and orders) are steps reserving.reserve_many calls."""
