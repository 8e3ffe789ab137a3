"""Webhooks for tests, registered through the API."""

from __future__ import annotations

from support.client import Client

CREATE = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    webhook { id url events isActive version maxEventsPerDelivery }
    secret
    errors { field code message }
  }
}"""


async def webhook(admin: Client, url: str, events: list[str], **values: object) -> dict:
    data = await admin.mutate(
        "createWebhook", CREATE, {"input": {"url": url, "events": events, **values}}
    )
    return data
