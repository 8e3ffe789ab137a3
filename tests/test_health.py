"""From a fresh database to a running server, as an operator would do it, with real
`onhand` processes: serve refuses an unmigrated database, migrate, serve, probe."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from onhand.db.engine import create_engine, plain_url
from onhand.runtime import bootstrap_admin
from support import database
from support.processes import ONHAND, Output
from support.server import free_port

TOKEN_LINE = re.compile(r"^\s+(onh_\S+)\s*$", re.MULTILINE)


async def _execute(url: str, statement: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        return list(await conn.fetch(statement))
    finally:
        await conn.close()


@pytest.fixture
def unmigrated_database(database_server: str) -> Iterator[str]:
    """A new, empty database on the test run's server: no tables, no migrations."""
    name = f"onhand_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(database_server, f'CREATE DATABASE "{name}"'))
    url = database.with_database(database_server, name)
    yield url
    database.drop(database_server, url)


def environment(database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "ONHAND_DATABASE_URL": database_url,
        "ONHAND_HOST": "127.0.0.1",
        "ONHAND_PORT": str(port),
        "ONHAND_LOG_LEVEL": "WARNING",
    }


def wait_until_ready(process: subprocess.Popen[str], output: Output, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output.join()
            raise AssertionError(f"onhand serve exited with {process.returncode}:\n{output.text}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"onhand serve did not become ready:\n{output.text}")


def operations_total(metrics: str, name: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "onhand_graphql_operations_total" and sample.labels == {
                "type": "query",
                "name": name,
                "outcome": "ok",
            }:
                return float(sample.value)
    return 0.0


@pytest.mark.slow
def test_serve_needs_migrate_then_answers_health_metrics_and_graphql(
    unmigrated_database: str,
) -> None:
    port = free_port()
    env = environment(unmigrated_database, port)

    refused = subprocess.run(
        [ONHAND, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    message = refused.stdout + refused.stderr
    assert refused.returncode != 0, message
    assert "not migrated" in message, message
    assert "onhand migrate" in message, message
    tables = asyncio.run(
        _execute(unmigrated_database, "SELECT 1 FROM pg_tables WHERE schemaname = 'public'")
    )
    assert tables == [], "a refused start must not create anything"

    migrated = subprocess.run(
        [ONHAND, "migrate"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    process = subprocess.Popen(
        [ONHAND, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = Output(process)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, output, url)
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/healthz").status_code == 200
            ready = http.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (200, "ready")

            tokens = TOKEN_LINE.findall(output.text)
            assert len(tokens) == 1, f"one ADMIN token is printed on first start:\n{output.text}"
            assert f"http://127.0.0.1:{port}/graphql" in output.text, "the GraphiQL URL is shown"
            probe = "query StartupProbe { viewer { name role } }"
            answered = http.post(
                "/graphql",
                json={"query": probe},
                headers={"Authorization": f"Bearer {tokens[0]}"},
            )
            assert answered.status_code == 200, answered.text
            assert answered.json()["data"] == {"viewer": {"name": "admin", "role": "ADMIN"}}
            assert http.post("/graphql", json={"query": probe}).status_code == 401

            metrics = http.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert operations_total(metrics.text, "StartupProbe") == 1.0
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("onhand serve did not stop on SIGTERM") from None
        finally:
            output.join()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal.
    assert process.returncode in (0, -signal.SIGTERM), output.text

    # The token is created once: the database now has it, and a second start makes none.
    async def bootstrap_again() -> object:
        engine = create_engine(unmigrated_database)
        try:
            return await bootstrap_admin(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(bootstrap_again()) is None
    names = asyncio.run(_execute(unmigrated_database, "SELECT name, role FROM api_tokens"))
    assert [tuple(row) for row in names] == [("admin", "ADMIN")]


async def test_graphiql_is_served_to_browsers_without_a_token(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "graphiql" in page.text.lower()
    # The same GET from anything but a browser is an API request: it needs a token.
    assert (await http.get("/graphql", headers={"Accept": "application/json"})).status_code == 401


async def test_health_endpoints_need_no_token(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ready"}
    assert (await http.get("/metrics")).status_code == 200
