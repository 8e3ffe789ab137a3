"""Every `onhand` command on the embedded PostgreSQL, as the README's quick start runs them:
no ONHAND_DATABASE_URL, the server under ONHAND_DATA_DIR, each command a real process.

One embedded cluster serves the module: this test process joins it first, so the commands
find it running (and, being not its last user, leave it running)."""

from __future__ import annotations

import asyncio
import csv
import io
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from onhand.api.schema import print_sdl
from onhand.db import embedded
from onhand.db.engine import plain_url
from support.processes import ONHAND, Output, environment, start_serving, stopping

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("embedded-cli")
    embedded.start(directory)
    try:
        migrated = onhand("migrate", data_dir=directory)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        yield directory
    finally:
        embedded.leave(directory)


@pytest.fixture(scope="module")
def embedded_url(data_dir: Path) -> str:
    return embedded.start(data_dir)


def onhand(*arguments: str, data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ONHAND), *arguments],
        env=environment(ONHAND_DATA_DIR=str(data_dir), COLUMNS="160"),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def succeeded(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}:\n{done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


async def fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def test_migrate_again_and_schema(data_dir: Path) -> None:
    assert "migrated to the newest version" in succeeded(onhand("migrate", data_dir=data_dir))
    assert succeeded(onhand("schema", data_dir=data_dir)) == print_sdl()


def test_token_create_list_revoke(data_dir: Path) -> None:
    secret = succeeded(
        onhand("token", "create", "--role", "OPERATOR", "--name", "pos-7", data_dir=data_dir)
    ).strip()
    assert secret.startswith("onh_")
    listed = succeeded(onhand("token", "list", data_dir=data_dir))
    assert "pos-7\tOPERATOR\t" in listed
    assert "revoked 'pos-7'" in succeeded(
        onhand("token", "revoke", "--name", "pos-7", data_dir=data_dir)
    )
    assert "pos-7\tOPERATOR\t" in succeeded(onhand("token", "list", data_dir=data_dir))


def test_seed_import_export_and_worker(data_dir: Path, embedded_url: str) -> None:
    assert "seeded 4 warehouses" in succeeded(onhand("seed", "--size", "small", data_dir=data_dir))

    imported = onhand(
        "import",
        "-",
        "--create-missing-products",
        data_dir=data_dir,
        stdin="SKU,WarehouseCode,Quantity\nEMBEDDED-1,DC-001,77\n",
    )
    assert "SUCCEEDED" in succeeded(imported)

    exported = succeeded(onhand("export", "--sku", "EMBEDDED-1", data_dir=data_dir))
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert (row["SKU"], row["WarehouseCode"], row["Quantity"]) == ("EMBEDDED-1", "DC-001", "77")

    # No server ran: the import's events wait in the outbox until a relay numbers them. The
    # worker runs the relay.
    unpublished = "SELECT count(*) AS n FROM outbox WHERE sequence IS NULL"
    assert asyncio.run(fetch(embedded_url, unpublished))[0]["n"] > 0
    worker = subprocess.Popen(
        [str(ONHAND), "worker"],
        env=environment(ONHAND_DATA_DIR=str(data_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(worker)
    try:
        deadline = time.monotonic() + 60
        while asyncio.run(fetch(embedded_url, unpublished))[0]["n"] > 0:
            assert worker.poll() is None, output.text
            assert time.monotonic() < deadline, f"the worker published nothing:\n{output.text}"
            time.sleep(0.1)
    finally:
        worker.terminate()
        code = worker.wait(timeout=30)
        output.join()
    assert code == 0, output.text


def test_serve(data_dir: Path) -> None:
    secret = succeeded(
        onhand("token", "create", "--role", "ADMIN", "--name", "serve-test", data_dir=data_dir)
    ).strip()
    with stopping(start_serving(environment(ONHAND_DATA_DIR=str(data_dir)))) as served:
        answered = httpx.post(
            f"{served.url}/graphql",
            json={"query": "{ viewer { name role } }"},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
        assert answered.json()["data"] == {"viewer": {"name": "serve-test", "role": "ADMIN"}}
        code = served.stop()
    assert code == -signal.SIGTERM, served.output.text
    assert "Traceback" not in served.output.text, served.output.text
