from support import factories
from support.client import Client


async def test_adjust_through_the_api(admin: Client) -> None:
    ids = await factories.stocked(admin, "SKU-1", {"DC-001": 10})
    data = await admin.mutate(
        "adjustInventory",
        """mutation($input: AdjustInventoryInput!) { adjustInventory(input: $input) {
            inventoryLevel { quantity available version } movement { type quantity actor }
            errors { code message } } }""",
        {
            "input": {
                "productId": ids["product"],
                "warehouseId": ids["DC-001"],
                "adjustment": -4,
                "reason": "SALE",
            }
        },
    )
    assert data["inventoryLevel"]["quantity"] == 6
    assert data["movement"] == {"type": "SALE", "quantity": -4, "actor": "test-admin"}
