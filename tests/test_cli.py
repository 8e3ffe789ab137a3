"""The `onhand` command, run as a real process: schema and token management."""

from __future__ import annotations

import os
import subprocess
import sys

import graphql
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.api.schema import print_sdl
from onhand.auth.authenticator import Authenticator
from support.client import Client

ONHAND = os.path.join(os.path.dirname(sys.executable), "onhand")


def onhand(*arguments: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ONHAND_LOG_LEVEL": "WARNING"}
    if database_url:
        environment["ONHAND_DATABASE_URL"] = database_url
    return subprocess.run(
        [ONHAND, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_schema_prints_the_sdl() -> None:
    done = onhand("schema")
    assert done.returncode == 0, done.stderr
    assert done.stdout == print_sdl()
    schema = graphql.build_schema(done.stdout)
    assert "adjustInventory" in schema.mutation_type.fields  # type: ignore[union-attr]
    assert "inventoryLevel" in schema.query_type.fields  # type: ignore[union-attr]


async def test_token_create_then_revoke(
    database_url: str, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = onhand(
        "token", "create", "--role", "OPERATOR", "--name", "cli-pos-12", database_url=database_url
    )
    assert created.returncode == 0, created.stdout + created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("onh_")
    assert len(secret.splitlines()) == 1, "the secret alone, so scripts can capture it"

    viewer = (await Client(http, secret)("{ viewer { name role } }"))["viewer"]
    assert viewer == {"name": "cli-pos-12", "role": "OPERATOR"}

    again = onhand(
        "token", "create", "--role", "ADMIN", "--name", "cli-pos-12", database_url=database_url
    )
    assert again.returncode != 0
    assert "already exists" in again.stdout + again.stderr

    revoked = onhand("token", "revoke", "--name", "cli-pos-12", database_url=database_url)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert "revoked" in revoked.stdout
    # The running test server caches lookups; a lookup without a cache sees the revocation.
    assert await Authenticator(engine, ttl=0).authenticate(f"Bearer {secret}") is None

    listed = onhand("token", "list", database_url=database_url)
    [line] = [line for line in listed.stdout.splitlines() if line.startswith("cli-pos-12\t")]
    assert line.split("\t")[1] == "OPERATOR"
    assert line.endswith("revoked")
    assert secret not in listed.stdout, "a listing never shows secrets"

    twice = onhand("token", "revoke", "--name", "cli-pos-12", database_url=database_url)
    assert twice.returncode == 1
    assert "no active token" in twice.stdout
