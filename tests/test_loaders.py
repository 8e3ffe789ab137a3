"""Relations are loaded per request in batches: a page asking for each row's product,
warehouse, stock and channel availability runs one query per relation, not one per row."""

from __future__ import annotations

from support import factories
from support.client import Client
from support.statements import statements

PAGE = """{
  inventoryLevels(first: 50) {
    nodes {
      quantity
      warehouse { code }
      product { sku inventory { quantity } inventoryLevels { quantity } }
    }
  }
}"""


async def test_a_page_of_levels_loads_each_relation_in_one_query(admin: Client) -> None:
    for n in range(4):
        await factories.stocked(admin, f"SKU-{n}", {"DC-1": 10 + n, "DC-2": 20 + n})
    with statements() as seen:
        page = await admin(PAGE)
    nodes = page["inventoryLevels"]["nodes"]
    assert len(nodes) == 8
    for node in nodes:
        n = int(node["product"]["sku"].removeprefix("SKU-"))
        assert node["quantity"] == {"DC-1": 10, "DC-2": 20}[node["warehouse"]["code"]] + n
        assert node["product"]["inventory"]["quantity"] == 30 + 2 * n
        assert sorted(lv["quantity"] for lv in node["product"]["inventoryLevels"]) == [
            10 + n,
            20 + n,
        ]
    # One query each for the warehouses, the products, their totals and their levels: eight
    # rows share every batch. (Background workers' statements are seen too: count by shape.)
    selected = [" ".join(s.split()) for s in seen]
    assert sum(s.startswith("SELECT inventory_levels.id") for s in selected) == 2, selected
    assert sum(s.startswith("SELECT warehouses.id") for s in selected) == 1
    assert sum(s.startswith("SELECT products.id") for s in selected) == 1
    assert sum("sum(inventory_levels.on_hand)" in s for s in selected) == 1
