"""The demo catalog and its stock as an import file, deterministic from a seed number: the same
seed gives the same bytes.

Quantities follow how a distributor's stock looks: a few fast movers with deep stock, many
slow ones, a long tail of C items; most stock in the distribution centres, little in the
store; some levels out of stock; safety stock and reorder points in proportion to demand."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

WAREHOUSES = [
    {
        "code": "DC-001",
        "name": "Main Distribution Center",
        "street": "123 Warehouse Way",
        "city": "Dallas",
        "state": "TX",
        "postal_code": "75201",
        "country": "US",
        "latitude": 32.7767,
        "longitude": -96.7970,
        "timezone": "America/Chicago",
        "priority": 1,
        "capabilities": ["SHIPPING", "RECEIVING", "STORAGE"],
    },
    {
        "code": "WH-EAST",
        "name": "East Coast Fulfillment",
        "street": "45 Port Street",
        "city": "Newark",
        "state": "NJ",
        "postal_code": "07102",
        "country": "US",
        "latitude": 40.7357,
        "longitude": -74.1724,
        "timezone": "America/New_York",
        "priority": 2,
        "capabilities": ["SHIPPING", "RECEIVING", "STORAGE"],
    },
    {
        "code": "WH-WEST",
        "name": "West Coast Fulfillment",
        "street": "9 Desert Road",
        "city": "Reno",
        "state": "NV",
        "postal_code": "89501",
        "country": "US",
        "latitude": 39.5296,
        "longitude": -119.8138,
        "timezone": "America/Los_Angeles",
        "priority": 2,
        "capabilities": ["SHIPPING", "RECEIVING", "STORAGE"],
    },
    {
        "code": "STORE-ATL",
        "name": "Atlanta Flagship Store",
        "street": "200 Peachtree St",
        "city": "Atlanta",
        "state": "GA",
        "postal_code": "30303",
        "country": "US",
        "latitude": 33.7490,
        "longitude": -84.3880,
        "timezone": "America/New_York",
        "priority": 3,
        "capabilities": ["SHIPPING", "STORAGE", "PICKUP"],
        # Click-and-collect: what customers are told, and a truck from the DCs twice a week.
        "pickup_instructions": "Order pickup desk, ground floor, by the Peachtree St entrance",
        "pickup_hours": "Mon-Sat 10:00-20:00, Sun 12:00-18:00",
        "transfer_lead_hours": 72,
    },
]
# How much of a product's stock each warehouse keeps, relative to the others.
SHARE = {"DC-001": 1.0, "WH-EAST": 0.6, "WH-WEST": 0.5, "STORE-ATL": 0.08}

CATEGORIES = ["Bolt", "Bearing", "Valve", "Fitting", "Gasket", "Hose", "Clamp", "Filter", "Pump"]
MATERIALS = ["Steel", "Stainless", "Brass", "Nylon", "Copper", "Aluminum", "PVC", "Rubber"]
SIZES_MM = [2, 4, 6, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64]
PACKS = [6, 12, 24, 50, 100, 250]
COLUMNS = [
    "SKU",
    "ProductName",
    "WarehouseCode",
    "Quantity",
    "SafetyStock",
    "ReorderPoint",
    "ReorderQuantity",
]


@dataclass(frozen=True)
class Size:
    products: int
    # Every product at every warehouse, or at a random few of them.
    everywhere: bool


SIZES = {
    "small": Size(products=300, everywhere=False),
    # 48,000 SKUs at 4 warehouses: 192,000 rows.
    "distributor": Size(products=48_000, everywhere=True),
}


def rows(size: Size, seed_number: int) -> list[list[object]]:
    rng = random.Random(seed_number)
    codes = [w["code"] for w in WAREHOUSES]
    out: list[list[object]] = []
    for index in range(1, size.products + 1):
        sku = f"SKU-{index:06d}"
        name = f"{rng.choice(MATERIALS)} {rng.choice(CATEGORIES)} {rng.choice(SIZES_MM)}mm"
        # A items sell daily, C items now and then: weekly demand in units.
        demand = rng.choice([400, 120, 120, 30, 30, 30, 8, 8, 8, 8]) * rng.uniform(0.5, 1.5)
        pack = rng.choice(PACKS)
        stocked = codes if size.everywhere else sorted(rng.sample(codes, rng.randint(2, 4)))
        for code in stocked:
            weekly = demand * SHARE[code]
            safety = int(weekly * rng.uniform(0.3, 0.7))
            # About three weeks of demand on hand; one level in 25 out of stock.
            out_of_stock = rng.random() < 0.04
            quantity = 0 if out_of_stock else int(rng.lognormvariate(0, 0.6) * weekly * 3)
            reorder_point = safety + int(weekly * rng.uniform(0.5, 1.0))
            reorder_quantity = max(pack, round(weekly * 2 / pack) * pack)
            out.append([sku, name, code, quantity, safety, reorder_point, reorder_quantity])
    return out


def generate_csv(size: str, seed_number: int) -> bytes:
    """The import file for a demo size."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(SIZES[size], seed_number))
    return buffer.getvalue().encode()
