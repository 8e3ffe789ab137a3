"""How a person gets in: the first ADMIN token is made and shown only by a start that is
listening, and every other start says how to make one."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from onhand.db.engine import plain_url
from support import database
from support.processes import ONHAND, environment, start_serving, stopping

pytestmark = pytest.mark.slow

TOKEN_LINE = re.compile(r"^\s+(onh_\S+)\s*$", re.MULTILINE)


@pytest.fixture
def new_database(database_server: str) -> Iterator[str]:
    """A migrated database nobody started a server on yet: no token."""
    url = database.create(database_server)
    yield url
    database.drop(database_server, url)


async def token_names(url: str) -> list[str]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        return [row["name"] for row in await conn.fetch("SELECT name FROM api_tokens")]
    finally:
        await conn.close()


def test_the_first_token_is_shown_by_the_first_start_that_listens(new_database: str) -> None:
    env = environment(ONHAND_DATABASE_URL=new_database)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        failed = subprocess.run(
            [str(ONHAND), "serve", "--port", port],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "onh_" not in failed.stdout + failed.stderr
    assert asyncio.run(token_names(new_database)) == [], "a failed start spends no token"

    with stopping(start_serving(env)) as first:
        text = first.said("More tokens")
        assert f"GraphiQL at {first.url}/graphql" in text
        assert f"The operations dashboard is at {first.url}/dashboard" in text
        [secret] = TOKEN_LINE.findall(text)
        answered = httpx.post(
            f"{first.url}/graphql",
            json={"query": "{ viewer { name role } }"},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
        assert answered.json()["data"] == {"viewer": {"name": "admin", "role": "ADMIN"}}

    with stopping(start_serving(env)) as again:
        text = again.said("onhand token create")
        assert TOKEN_LINE.findall(text) == [], "the token is shown once"


async def test_a_request_without_a_token_is_told_how_to_make_one(
    http: httpx.AsyncClient,
) -> None:
    refused = await http.post("/graphql", json={"query": "{ viewer { name } }"})
    assert refused.status_code == 401
    assert "onhand token create" in refused.json()["errors"][0]["message"]
    download = await http.get("/exports/inventory.csv")
    assert download.status_code == 401
    assert "onhand token create" in download.json()["errors"][0]["message"]
