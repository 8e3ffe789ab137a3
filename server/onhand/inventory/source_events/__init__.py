"""Inventory events pushed by ERPs and warehouse systems (recordInventoryEvents): numbered per
source system, deduplicated, held when out of order, applied through the ledger.

Open `recording.py` first: it states the rules, then `applying.py`."""
