"""An uploaded CSV goes to disk as it arrives and the import reads it from there a batch of rows
at a time: a real server process importing a file of tens of megabytes grows by a fraction of
the file's size, and the import is applied all the same."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.db.engine import create_engine
from support.client import operation
from support.processes import onhand_process

pytestmark = pytest.mark.slow

IMPORT = operation("ImportInventory")
ROWS = 30_000
# Each row carries its padding in a column with no header, which the import ignores.
PADDING = "x" * 2100
FILE_BYTES_AT_LEAST = 60 * 1024 * 1024
GROWTH_BOUND = 30 * 1024 * 1024


def write_csv(path: Path) -> int:
    with path.open("w") as file:
        file.write("SKU,WarehouseCode,Quantity,\n")
        for n in range(ROWS):
            file.write(f"MEM-{n:07d},DC-1,{n % 97},{PADDING}\n")
    return path.stat().st_size


class PeakMemory:
    """Samples a process's resident memory every few milliseconds until stopped."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def upload(http: httpx.Client, token: str, path: Path) -> httpx.Response:
    operations = {
        "query": IMPORT,
        "variables": {"input": {"file": None, "createMissingProducts": True}},
    }
    with path.open("rb") as file:  # httpx sends it a chunk at a time
        return http.post(
            "/graphql",
            headers={"Authorization": f"Bearer {token}"},
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.input.file"]}),
            },
            files={"0": (path.name, file, "text/csv")},
        )


async def admin_token(database_url: str) -> str:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        token = (await create_token(conn, "uploader", Role.ADMIN)).secret
    await engine.dispose()
    return token


def graphql(http: httpx.Client, token: str, query: str) -> dict[str, Any]:
    response = http.post(
        "/graphql", headers={"Authorization": f"Bearer {token}"}, json={"query": query}
    )
    return dict(response.json()["data"])


def test_a_large_upload_is_imported_without_holding_it_in_memory(
    fresh_database: str, tmp_path: Path
) -> None:
    token = asyncio.run(admin_token(fresh_database))
    path = tmp_path / "stock.csv"
    size = write_csv(path)
    assert size >= FILE_BYTES_AT_LEAST

    with (
        onhand_process(fresh_database) as served,
        httpx.Client(base_url=served.url, timeout=120) as http,
    ):
        created = graphql(
            http,
            token,
            'mutation { createWarehouse(input: {code: "DC-1", name: "DC-1"}) { errors { code } } }',
        )
        assert created["createWarehouse"]["errors"] == []
        # The import's code paths warmed up by a small file first.
        small = tmp_path / "small.csv"
        small.write_text("SKU,WarehouseCode,Quantity\nWARM-1,DC-1,1\n")
        assert upload(http, token, small).json()["data"]["importInventory"]["errors"] == []

        process = psutil.Process(served.process.pid)
        before = process.memory_info().rss
        with PeakMemory(served.process.pid) as memory:
            response = upload(http, token, path)
        payload = response.json()["data"]["importInventory"]
        assert payload["errors"] == [], payload
        job = payload["job"]
        assert job["status"] == "SUCCEEDED", job
        assert (job["rowsTotal"], job["created"]) == (ROWS, ROWS)

        growth = memory.peak - before
        assert growth < GROWTH_BOUND, (
            f"the server grew by {growth / 2**20:.0f} MB for a {size / 2**20:.0f} MB upload"
        )

        # Applied as the file says.
        found = graphql(
            http,
            token,
            '{ a: inventoryLevel(sku: "MEM-0000098", warehouseCode: "DC-1") { quantity }'
            ' b: inventoryLevel(sku: "MEM-0029999", warehouseCode: "DC-1") { quantity } }',
        )
        assert found == {"a": {"quantity": 98 % 97}, "b": {"quantity": 29_999 % 97}}
