"""Changing and deleting webhooks while their deliveries are in flight, against a real
`onhand serve` and a real receiver: no error answers, no deadlock, no delivery left half
recorded."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import httpx
import pytest

from onhand.api import ids
from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db.engine import create_engine, plain_url
from support import factories
from support.client import Client
from support.factories import adjust
from support.processes import onhand_process
from support.receiver import Receiver
from support.server import serving
from support.waiting import until
from support.webhooks import webhook

KEPT, DELETED = 4, 24
WRITERS = 3
CHANGES_PER_WRITER = 40
UPDATE = """
mutation($input: UpdateWebhookInput!) {
  updateWebhook(input: $input) { webhook { version } errors { code message } }
}"""
DELETE = """
mutation($id: ID!) { deleteWebhook(input: {id: $id}) { deletedId errors { code message } } }
"""
# Settings of the server under test: many deliveries of one webhook in flight at once, quick
# retries, and a circuit that closes again at once, so that the storm settles quickly.
SERVER = {
    "ONHAND_RETRY_DELAY_SECONDS": "0.05",
    "ONHAND_WEBHOOK_OPEN_SECONDS": "0.1",
    "ONHAND_WEBHOOK_CONCURRENCY": "64",
    "ONHAND_WEBHOOK_CONCURRENCY_PER_ENDPOINT": "16",
}


async def fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


@pytest.mark.slow
async def test_webhooks_change_and_go_while_their_deliveries_are_in_flight(
    fresh_database: str,
) -> None:
    engine = create_engine(fresh_database)
    async with engine.begin() as conn:
        token = (await create_token(conn, "storm", Role.ADMIN)).secret
    await engine.dispose()
    # A receiver that takes a moment over each delivery (so that many are in flight at
    # once) and fails the first few (so that failures are recorded too).
    endpoint = Receiver(statuses=[500] * 10, delay=0.05)
    with (
        serving(endpoint.app()) as receiver_url,
        onhand_process(fresh_database, **SERVER) as server,
    ):
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            admin = Client(http, token)
            hooks = [
                (await webhook(admin, f"{receiver_url}/hook", ["INVENTORY_UPDATED"]))["webhook"]
                for _ in range(KEPT + DELETED)
            ]
            kept, doomed = hooks[:KEPT], hooks[KEPT:]
            skus = [f"STORM-{n}" for n in range(WRITERS)]
            for sku in skus:
                await factories.stocked(admin, sku, {"DC-1": 0})

            async def storm(sku: str) -> None:
                for _ in range(CHANGES_PER_WRITER):
                    await adjust(admin, sku, "DC-1", 1)

            async def change_hooks() -> None:
                await until(lambda: len(endpoint.received) > 20, "deliveries began")
                versions = {hook["id"]: hook["version"] for hook in kept}
                for round_, (gone, hook) in enumerate(
                    itertools.zip_longest(doomed, kept * (DELETED // KEPT)), start=1
                ):
                    if gone is not None:
                        deleted = await admin.mutate("deleteWebhook", DELETE, {"id": gone["id"]})
                        assert deleted["deletedId"] == gone["id"]
                    changed = await admin.mutate(
                        "updateWebhook",
                        UPDATE,
                        {
                            "input": {
                                "id": hook["id"],
                                "expectedVersion": versions[hook["id"]],
                                "description": f"round {round_}",
                                "url": f"{receiver_url}/hook?round={round_}",
                            }
                        },
                    )
                    versions[hook["id"]] = changed["webhook"]["version"]

            await asyncio.gather(*(storm(sku) for sku in skus), change_hooks())

            async def settled() -> bool:
                # Every event published (the last changes' answers can come before the relay
                # numbers their events) and made into deliveries (a quick sender can empty
                # the queue while the enqueuer is still behind), and none of them left to
                # send.
                [row] = await fetch(
                    fresh_database,
                    "SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)"
                    " AND (SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING')"
                    " = 0 AND (SELECT last_sequence FROM webhook_cursor)"
                    " >= (SELECT max(sequence) FROM outbox)",
                )
                return bool(row[0])

            await until(settled, "every delivery was made")
    server_log = server.output.text
    for trouble in ("deadlock", "could not record", "Unexpected error", " ERROR "):
        assert trouble not in server_log, server_log

    kept_ids = [ids.decode(hook["id"], "Webhook", "id") for hook in kept]
    events = await fetch(
        fresh_database,
        "SELECT count(*) FROM outbox WHERE topic = 'INVENTORY_UPDATED' AND sequence IS NOT NULL",
    )
    rows = await fetch(
        fresh_database,
        "SELECT d.*, w.id AS hook FROM webhook_deliveries d LEFT JOIN webhooks w"
        " ON w.id = d.webhook_id ORDER BY d.id",
    )
    # The deleted webhooks' deliveries went with them; each kept one has one delivery per
    # event, each made and recorded as such.
    assert {row["webhook_id"] for row in rows} == set(kept_ids)
    for hook_id in kept_ids:
        assert sum(row["webhook_id"] == hook_id for row in rows) == events[0][0]
    succeeded = {r.headers["x-onhand-delivery"] for r in endpoint.received if r.status < 300}
    for row in rows:
        assert row["hook"] is not None, dict(row)
        assert row["status"] == "SUCCEEDED", dict(row)
        assert row["locked_until"] is None, dict(row)
        assert row["delivered_at"] is not None, dict(row)
        assert row["last_status_code"] == 200, dict(row)
        assert str(row["id"]) in succeeded, dict(row)
    hooks_left = await fetch(
        fresh_database, "SELECT id, consecutive_failures, last_success_at FROM webhooks"
    )
    assert sorted(row["id"] for row in hooks_left) == sorted(kept_ids)
    assert all(row["consecutive_failures"] == 0 for row in hooks_left), hooks_left
    assert all(row["last_success_at"] is not None for row in hooks_left), hooks_left
    # PostgreSQL itself saw no deadlock in this database (a deadlock retried quietly counts
    # too). The server has stopped, so its connections have reported their statistics.
    [stats] = await fetch(
        fresh_database,
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    assert stats["deadlocks"] == 0
