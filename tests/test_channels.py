"""Channels: creating and editing them, reading them, and channel-bound (CONNECTOR) tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import factories
from support.channels import channel
from support.client import Client, operation
from support.statements import statements

ONHAND = Path(sys.executable).parent / "onhand"
CHANNEL = "channel { code name kind priority safetyBufferPercent isActive version }"


async def test_a_channel_gets_the_configured_defaults(admin: Client) -> None:
    await factories.warehouse(admin, "DC-1")
    await factories.warehouse(admin, "DC-2")
    made = await channel(admin, "WEBSITE", ["DC-2", "DC-1"])
    assert made["kind"] == "REALTIME"
    assert made["safetyBufferPercent"] == 5.0
    assert made["syncIntervalMinutes"] == 15.0
    assert made["oversellProtection"] is True
    assert made["isActive"] is True
    assert made["version"] == 1
    assert [w["code"] for w in made["warehouses"]] == ["DC-1", "DC-2"]

    amazon = await channel(
        admin,
        "AMAZON",
        kind="BATCH",
        priority=5,
        safetyBufferPercent=10,
        syncIntervalMinutes=30,
        oversellProtection=False,
    )
    assert (amazon["kind"], amazon["priority"], amazon["safetyBufferPercent"]) == (
        "BATCH",
        5,
        10.0,
    )
    assert (amazon["syncIntervalMinutes"], amazon["oversellProtection"]) == (30.0, False)
    assert amazon["warehouses"] == []


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({"code": "has space"}, "code", "INVALID"),
        ({"name": "  "}, "name", "REQUIRED"),
        ({"safetyBufferPercent": 101}, "safetyBufferPercent", "INVALID"),
        ({"safetyBufferPercent": -1}, "safetyBufferPercent", "INVALID"),
        ({"syncIntervalMinutes": 0}, "syncIntervalMinutes", "INVALID"),
        ({"priority": 5000}, "priority", "INVALID"),
        ({"warehouseCodes": ["DC-404"]}, "warehouseCodes.0", "NOT_FOUND"),
        ({"warehouseIds": ["bm90LWFuLWlk"]}, "warehouseIds.0", "INVALID_ID"),
    ],
)
async def test_bad_channel_input_is_refused_by_field(
    admin: Client, values: dict[str, Any], field: str, code: str
) -> None:
    payload = (
        await admin(operation("CreateChannel"), {"input": {"code": "WEB", "name": "Web", **values}})
    )["createChannel"]
    assert payload["channel"] is None
    assert (field, code) in [(e["field"], e["code"]) for e in payload["errors"]], payload
    listed = await admin("{ channels { totalCount } }")
    assert listed["channels"]["totalCount"] == 0


async def test_channel_codes_are_unique(admin: Client) -> None:
    await channel(admin, "POS")
    again = await admin(operation("CreateChannel"), {"input": {"code": "POS", "name": "x"}})
    assert [(e["field"], e["code"]) for e in again["createChannel"]["errors"]] == [
        ("code", "ALREADY_EXISTS")
    ]


async def test_an_edit_is_version_checked_and_may_replace_the_warehouses(admin: Client) -> None:
    await factories.warehouse(admin, "DC-1")
    await factories.warehouse(admin, "DC-2")
    made = await channel(admin, "WEBSITE", ["DC-1"])
    edit = operation("UpdateChannel")
    updated = await admin.mutate(
        "updateChannel",
        edit,
        {
            "input": {
                "id": made["id"],
                "expectedVersion": 1,
                "name": "Web shop",
                "safetyBufferPercent": 7.5,
                "warehouseCodes": ["DC-2"],
            }
        },
    )
    assert updated["channel"]["name"] == "Web shop"
    assert updated["channel"]["safetyBufferPercent"] == 7.5
    assert updated["channel"]["version"] == 2
    assert [w["code"] for w in updated["channel"]["warehouses"]] == ["DC-2"]

    stale = await admin(edit, {"input": {"id": made["id"], "expectedVersion": 1, "name": "x"}})
    [error] = stale["updateChannel"]["errors"]
    assert (error["code"], error["currentVersion"]) == ("VERSION_CONFLICT", 2)
    # Fields not sent stay as they are; an empty list unlinks every warehouse.
    cleared = await admin.mutate(
        "updateChannel", edit, {"input": {"id": made["id"], "warehouseCodes": []}}
    )
    assert cleared["channel"]["name"] == "Web shop"
    assert cleared["channel"]["warehouses"] == []


async def test_a_channel_is_updated_by_its_code_as_it_was_created(admin: Client) -> None:
    made = await channel(admin, "KIOSK", [])
    edit = operation("UpdateChannel")
    renamed = await admin.mutate(
        "updateChannel", edit, {"input": {"channelCode": "KIOSK", "name": "Kiosk", "code": "KSK"}}
    )
    assert (renamed["channel"]["id"], renamed["channel"]["code"]) == (made["id"], "KSK")
    for named, field, code in (
        ({}, "id", "REQUIRED"),
        ({"id": made["id"], "channelCode": "KSK"}, "id", "INVALID"),
        ({"channelCode": "KIOSK"}, "channelCode", "NOT_FOUND"),
    ):
        refused = await admin(edit, {"input": {"name": "x", **named}})
        errors = refused["updateChannel"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], named


async def test_channels_are_read_by_id_code_filter_and_node(admin: Client) -> None:
    web = await channel(admin, "WEBSITE")
    await channel(admin, "AMAZON", kind="BATCH")
    await channel(admin, "EBAY", kind="BATCH", isActive=False)
    by_code = await admin('{ channel(code: "AMAZON") { code kind } }')
    assert by_code["channel"] == {"code": "AMAZON", "kind": "BATCH"}
    by_id = await admin("query($id: ID!) { channel(id: $id) { code } }", {"id": web["id"]})
    assert by_id["channel"] == {"code": "WEBSITE"}
    assert (await admin('{ channel(code: "NOPE") { code } }'))["channel"] is None
    batch = await admin(
        "{ channels(filter: {kind: BATCH, isActive: true}) { nodes { code } totalCount } }"
    )
    assert batch["channels"] == {"nodes": [{"code": "AMAZON"}], "totalCount": 1}
    search = await admin('{ channels(filter: {search: "bay"}) { nodes { code } } }')
    assert search["channels"]["nodes"] == [{"code": "EBAY"}]
    node = await admin(
        "query($id: ID!) { node(id: $id) { ... on Channel { code } } }", {"id": web["id"]}
    )
    assert node["node"] == {"code": "WEBSITE"}


async def test_a_page_of_channels_lists_each_ones_warehouses_in_one_query(admin: Client) -> None:
    for code in ("DC-1", "DC-2", "DC-3"):
        await factories.warehouse(admin, code)
    linked = {
        "WEBSITE": ["DC-1", "DC-2"],
        "POS": ["DC-3"],
        "APP": [],
        "AMAZON": ["DC-1", "DC-2", "DC-3"],
        "EBAY": ["DC-2"],
    }
    for code, warehouses in linked.items():
        await channel(admin, code, warehouses)
    with statements() as seen:
        listed = await admin("{ channels { edges { node { code warehouses { code } } } } }")
    found = {
        edge["node"]["code"]: [w["code"] for w in edge["node"]["warehouses"]]
        for edge in listed["channels"]["edges"]
    }
    assert found == linked
    # One query for the page's links, one for their warehouses: not one per channel.
    links = [s for s in seen if s.lstrip().startswith("SELECT channel_warehouses.channel_id")]
    assert len(links) == 1, links
    one = await admin('{ channel(code: "AMAZON") { warehouses { code } } }')
    assert [w["code"] for w in one["channel"]["warehouses"]] == linked["AMAZON"]


@pytest.mark.parametrize("client", ["operator", "storefront"])
async def test_only_admins_manage_channels(
    client: str, request: pytest.FixtureRequest, admin: Client
) -> None:
    caller: Client = request.getfixturevalue(client)
    made = await channel(admin, "WEBSITE")
    created = await caller(operation("CreateChannel"), {"input": {"code": "X", "name": "X"}})
    assert [e["code"] for e in created["createChannel"]["errors"]] == ["FORBIDDEN"]
    edited = await caller(operation("UpdateChannel"), {"input": {"id": made["id"], "name": "x"}})
    assert [e["code"] for e in edited["updateChannel"]["errors"]] == ["FORBIDDEN"]
    # Everyone may read channels.
    assert (await caller("{ channels { totalCount } }"))["channels"]["totalCount"] == 1


async def test_a_connector_sees_only_its_own_channel(admin: Client, connector: Any) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    web = await channel(admin, "WEBSITE", ["DC-1"])
    await channel(admin, "AMAZON", ["DC-1"], safetyBufferPercent=0)
    amazon: Client = await connector("AMAZON")
    listed = await amazon("{ channels { nodes { code } } }")
    assert listed["channels"]["nodes"] == [{"code": "AMAZON"}]
    assert (await amazon('{ channel(code: "AMAZON") { code } }'))["channel"] == {"code": "AMAZON"}
    for query, variables in (
        ('{ channel(code: "WEBSITE") { code } }', {}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": web["id"]}),
        ('{ channelInventory(channelCode: "WEBSITE", skus: ["SKU-1"]) { availableToSell } }', {}),
    ):
        body = await amazon.raw(query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    # Its own channel is the default, and it needs no stock permission for the number.
    own = await amazon('{ channelInventory(skus: ["SKU-1"]) { availableToSell } }')
    assert own["channelInventory"] == [{"availableToSell": 10}]
    detail = await amazon.raw('{ channelInventory(skus: ["SKU-1"]) { warehouses { available } } }')
    assert detail["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # It manages nothing.
    made = await amazon(operation("CreateChannel"), {"input": {"code": "X", "name": "X"}})
    assert [e["code"] for e in made["createChannel"]["errors"]] == ["FORBIDDEN"]


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ONHAND), *args],
        env={**os.environ, "ONHAND_DATABASE_URL": database_url, "ONHAND_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_cli_binds_a_connector_token_to_a_channel_by_code(
    admin: Client, database_url: str, http: httpx.AsyncClient
) -> None:
    await channel(admin, "WALMART")
    issued = _cli(
        database_url,
        "token",
        "create",
        "--role",
        "CONNECTOR",
        "--name",
        "walmart-sync",
        "--channel",
        "WALMART",
    )
    assert issued.returncode == 0, issued.stderr + issued.stdout
    walmart = Client(http, issued.stdout.strip().splitlines()[-1])
    viewer = await walmart("{ viewer { role } channels { nodes { code } } }")
    assert viewer["viewer"]["role"] == "CONNECTOR"
    assert viewer["channels"]["nodes"] == [{"code": "WALMART"}]
    unknown = _cli(
        database_url,
        "token",
        "create",
        "--role",
        "CONNECTOR",
        "--name",
        "nope-sync",
        "--channel",
        "NOPE",
    )
    assert unknown.returncode != 0
    assert "NOPE" in unknown.stdout + unknown.stderr


async def test_the_cli_binds_a_storefront_token_to_its_channel_and_no_other_role(
    admin: Client, database_url: str, http: httpx.AsyncClient
) -> None:
    await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    await channel(admin, "WEBSITE", ["DC-1"], safetyBufferPercent=0)
    await channel(admin, "POS", ["DC-1"], safetyBufferPercent=0)
    issued = _cli(
        database_url,
        "token",
        "create",
        "--role",
        "STOREFRONT",
        "--name",
        "web-shop",
        "--channel",
        "WEBSITE",
    )
    assert issued.returncode == 0, issued.stderr + issued.stdout
    shop = Client(http, issued.stdout.strip().splitlines()[-1])
    seen = await shop("{ viewer { role } channels { nodes { code } } }")
    assert seen["viewer"]["role"] == "STOREFRONT"
    assert seen["channels"]["nodes"] == [{"code": "WEBSITE"}]
    # It reserves on its own channel by default, and on no other.
    own = await shop(operation("CreateReservation"), {"input": {"sku": "SKU-1", "quantity": 1}})
    assert own["createReservation"]["reservation"]["channel"] == {"code": "WEBSITE"}
    other = await shop(
        operation("CreateReservation"),
        {"input": {"sku": "SKU-1", "quantity": 1, "channelCode": "POS"}},
    )
    assert [e["code"] for e in other["createReservation"]["errors"]] == ["FORBIDDEN"]
    refused = _cli(
        database_url,
        "token",
        "create",
        "--role",
        "OPERATOR",
        "--name",
        "ops",
        "--channel",
        "WEBSITE",
    )
    assert refused.returncode != 0
    assert "CONNECTOR and STOREFRONT" in refused.stdout + refused.stderr
