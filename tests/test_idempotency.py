"""Idempotency keys belong to the caller: the same key from two tokens means two requests."""

from __future__ import annotations

from support import factories
from support.client import Client

ADJUST = """
mutation($input: AdjustInventoryInput!) {
  adjustInventory(input: $input) { inventoryLevel { quantity } movement { id } errors { code } }
}"""


async def test_two_tokens_may_use_the_same_key(admin: Client, operator: Client) -> None:
    await factories.stocked(admin, "IDEM-1", {"DC-1": 10})
    request = {"sku": "IDEM-1", "warehouseCode": "DC-1", "reason": "RECEIPT"}
    first = await admin(ADJUST, {"input": {**request, "adjustment": 1, "idempotencyKey": "k-1"}})
    other = await operator(ADJUST, {"input": {**request, "adjustment": 5, "idempotencyKey": "k-1"}})
    again = await admin(ADJUST, {"input": {**request, "adjustment": 1, "idempotencyKey": "k-1"}})
    assert first["adjustInventory"]["inventoryLevel"]["quantity"] == 11
    assert other["adjustInventory"]["inventoryLevel"]["quantity"] == 16
    # The admin's replay answers with its own first result, untouched by the operator's.
    assert again["adjustInventory"] == first["adjustInventory"]
