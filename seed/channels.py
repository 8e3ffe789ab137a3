"""The six sales channels of the demo, as the synchronization guide configures them: storefront,
POS and app sell live; the marketplaces are synced in batches every 15 minutes; each keeps a 5%
safety buffer; priorities decide who gets scarce stock first."""

from __future__ import annotations

from typing import Any

CHANNELS: list[dict[str, Any]] = [
    {"code": "WEBSITE", "name": "Web store", "kind": "REALTIME", "priority": 100},
    {"code": "POS", "name": "Store point of sale", "kind": "REALTIME", "priority": 90},
    {"code": "MOBILE_APP", "name": "Mobile app", "kind": "REALTIME", "priority": 80},
    {"code": "AMAZON", "name": "Amazon", "kind": "BATCH", "priority": 70},
    {"code": "EBAY", "name": "eBay", "kind": "BATCH", "priority": 60},
    {"code": "WALMART", "name": "Walmart Marketplace", "kind": "BATCH", "priority": 50},
]
SAFETY_BUFFER_PERCENT = 5.0
BATCH_SYNC_MINUTES = 15.0

# Which warehouses fulfil each channel: the store sells its own shelf; online channels ship
# from the fulfilment centres.
FULFILMENT = ["DC-001", "WH-EAST", "WH-WEST"]
WAREHOUSES_OF = {
    "WEBSITE": FULFILMENT,
    "POS": ["STORE-ATL"],
    "MOBILE_APP": FULFILMENT,
    "AMAZON": FULFILMENT,
    "EBAY": ["DC-001"],
    "WALMART": ["DC-001", "WH-EAST"],
}
