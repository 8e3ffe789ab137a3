"""Sales channels: which warehouses fulfil each, how much each may sell (allocations, buffers,
available-to-sell), rebalancing, and the change feed and sync state of batch channels.

Open `registry.py` first (channels themselves), then `availability.py` (available-to-sell),
`allocation.py` and `feed.py`."""
