"""Kits (bundles): a product made of components in fixed quantities, with no stock of its own.

Open `definition.py` first (defining a kit and reading its components), then
`availability.py` (what a kit may sell, derived from its components), `holds.py` (reserving a
kit holds its components) and `events.py` (a component's change concerns its kits)."""
