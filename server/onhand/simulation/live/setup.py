"""The world set up in onhand as a real deployment would: warehouses and channels by an admin,
the opening stock as a CSV import, and one token per client (`onhand token create`): a
STOREFRONT bound to each live channel, a CONNECTOR bound to each marketplace, an OPERATOR for
the ERP and the warehouses' systems."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from onhand.simulation.live.client import Api, ApiError, Calls
from onhand.simulation.live.deployment import Deployment
from onhand.simulation.world import (
    BATCH,
    BATCH_SYNC_MINUTES,
    CHANNELS,
    MARKETPLACE_MINIMUM_BUFFER,
    SAFETY_BUFFER_PERCENT,
    WAREHOUSE_DETAILS,
    World,
)

CREATE_WAREHOUSE = """mutation($input: CreateWarehouseInput!) {
  createWarehouse(input: $input) { warehouse { id } errors { field code message } } }"""
CREATE_CHANNEL = """mutation($input: CreateChannelInput!) {
  createChannel(input: $input) { channel { id } errors { field code message } } }"""
DEMAND_BUFFER = """mutation($input: SetChannelDemandBufferInput!) {
  setChannelDemandBuffer(input: $input) { productCount errors { field code message } } }"""
IMPORT = """mutation($input: ImportInventoryInput!) {
  importInventory(input: $input) { job { status failed } errors { field code message } } }"""


@dataclass
class Clients:
    admin: Api
    erp: Api
    channels: dict[str, Api]


async def set_up(
    deployment: Deployment,
    http: httpx.AsyncClient,
    world: World,
    run: str,
    calls: Calls | None = None,
) -> Clients:
    """Creates what the run needs; `run` names its tokens and its objects' prefix; the clients
    keep their calls in `calls`."""
    admin = Api(http, deployment.url, await _token(deployment, f"simulation-{run}-admin", "ADMIN"))
    for code in world.warehouses:
        details = WAREHOUSE_DETAILS[code]
        await _create(
            admin,
            CREATE_WAREHOUSE,
            "createWarehouse",
            {
                "code": code,
                "name": details["name"],
                "address": {
                    "city": details["city"],
                    "country": details["country"],
                    "latitude": details["latitude"],
                    "longitude": details["longitude"],
                },
                "priority": details["priority"],
                "capabilities": details["capabilities"],
            },
        )
    for code in CHANNELS:
        channel = {
            "code": code,
            "name": code.replace("_", " ").title(),
            "kind": "BATCH" if code in BATCH else "REALTIME",
            "safetyBufferPercent": SAFETY_BUFFER_PERCENT,
            "warehouseCodes": list(world.warehouses),
        }
        if code in BATCH:
            # The marketplaces' 15 minutes, in business time: the server's simulation clock
            # runs them (and their stall alerts) at the simulation's speed.
            channel["syncIntervalMinutes"] = BATCH_SYNC_MINUTES
        await _create(admin, CREATE_CHANNEL, "createChannel", channel)
    await _import_stock(admin, world)
    for code in BATCH:
        # A marketplace sells for a whole sync interval on the figure it pulled: its buffers
        # are sized to the demand over that interval, and never less than the last few units
        # (what other channels may sell of a SKU running low before the next pull).
        buffer = {
            "channelCode": code,
            "leadTimeDays": BATCH_SYNC_MINUTES / (24 * 60),
            "minimumBuffer": MARKETPLACE_MINIMUM_BUFFER,
        }
        await _create(admin, DEMAND_BUFFER, "setChannelDemandBuffer", buffer)
    secrets = await asyncio.gather(
        _token(deployment, f"simulation-{run}-erp", "OPERATOR"),
        *(
            _token(
                deployment,
                f"simulation-{run}-{code.lower()}",
                "CONNECTOR" if code in BATCH else "STOREFRONT",
                code,
            )
            for code in CHANNELS
        ),
    )
    channels = {
        code: Api(http, deployment.url, secret, calls)
        for code, secret in zip(CHANNELS, secrets[1:], strict=True)
    }
    return Clients(admin, Api(http, deployment.url, secrets[0], calls), channels)


async def _token(deployment: Deployment, name: str, role: str, channel: str | None = None) -> str:
    return await asyncio.to_thread(deployment.token, name, role, channel)


async def _create(api: Api, document: str, field: str, values: Mapping[str, object]) -> None:
    payload = (await api(document, input=values))[field]
    if payload["errors"]:
        raise ApiError(f"{field} {values.get('code')}: {payload['errors']}")


async def _import_stock(api: Api, world: World) -> None:
    """The opening stock as one CSV import (multipart: the distributor's file is large)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["SKU", "ProductName", "WarehouseCode", "Quantity"])
    for sku in world.skus:
        for warehouse, quantity in world.stock[sku].items():
            writer.writerow([sku, f"Part {sku}", warehouse, quantity])
    # The same key on a retry: an import that did commit is not applied twice.
    variables = {
        "input": {
            "file": None,
            "createMissingProducts": True,
            "idempotencyKey": f"opening-{uuid.uuid4()}",
        }
    }
    operations = {"query": IMPORT, "variables": variables}
    for attempt in range(6):
        response = await api.http.post(
            api.url,
            headers=api.headers,
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.input.file"]}),
            },
            files={"0": ("stock.csv", buffer.getvalue().encode(), "text/csv")},
            timeout=600,
        )
        body = response.json()
        if "UNAVAILABLE" not in json.dumps(body.get("errors") or []):
            break
        await asyncio.sleep(0.5 * 2**attempt)
    payload = (body.get("data") or {}).get("importInventory")
    if not payload or payload["errors"] or payload["job"]["status"] != "SUCCEEDED":
        raise ApiError(f"the opening stock was not imported: {json.dumps(body)[:500]}")
