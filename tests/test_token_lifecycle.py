"""A token's life: it may expire, be rotated (a new secret, the same identity, the old secret
kept for an overlap) and it says when it was last used. Tokens are managed with the real
`onhand token` command; the shared test server caches token lookups for 60 s, so what it
refuses in time it refuses despite its cache."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.exceptions import ConnectionClosed

from onhand.auth.authenticator import Authenticator
from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from support import factories
from support.channels import channel
from support.client import Client
from support.factories import adjust
from support.processes import onhand_process
from support.server import running_server
from support.tokens import listing, moment, onhand_token, succeeded
from support.waiting import until
from support.ws import UPDATED, Subscriber

VIEWER = "{ viewer { name role } }"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def refusal(http: httpx.AsyncClient, secret: str) -> tuple[int, Any]:
    response = await Client(http, secret).post(VIEWER)
    return response.status_code, response.json()


async def stored(engine: AsyncEngine, name: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT id, role, channel_id, token_hash, last_used_at, now() AS now"
                    " FROM api_tokens WHERE name = :name"
                ),
                {"name": name},
            )
        ).first()


# Long enough for CLI processes and requests to finish before a token expires or a rotated
# secret's overlap ends, on a loaded machine running the suite in parallel (at 3-4 s, a
# listing once came after the end).
LIFETIME = 12


async def test_an_expiring_token_works_until_then_and_is_then_refused_like_an_unknown_one(
    database_url: str, http: httpx.AsyncClient
) -> None:
    name = unique("expiring")
    before = datetime.now(UTC)
    created = await onhand_token(
        database_url, "create", "--role", "OPERATOR", "--name", name, "--expires-in", f"{LIFETIME}s"
    )
    made = time.monotonic()
    after = datetime.now(UTC)
    assert created.returncode == 0, created.stdout + created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("onh_")
    assert len(created.stdout.splitlines()) == 1
    assert "expires" in created.stderr

    shown = (await listing(database_url))[name]
    assert shown["STATE"] == "active"
    # The listing shows whole seconds; the token was made between `before` and `after`.
    expires = moment(shown["EXPIRES"])
    assert (
        before + timedelta(seconds=LIFETIME - 1)
        <= expires
        <= after + timedelta(seconds=LIFETIME + 1)
    )
    # Used (and so cached by the server for a minute) while it is valid.
    assert (await Client(http, secret)(VIEWER))["viewer"] == {"name": name, "role": "OPERATOR"}

    unknown = await refusal(http, "onh_nobody-was-ever-given-this")
    assert unknown[0] == 401
    await until(
        lambda: _refused(http, secret, unknown),
        "the expired token is refused",
        seconds=LIFETIME + 5,
    )
    assert time.monotonic() - made > LIFETIME / 2, "refused before it expired"
    assert (await listing(database_url))[name]["STATE"] == "expired"


async def _refused(http: httpx.AsyncClient, secret: str, unknown: tuple[int, Any]) -> bool:
    return await refusal(http, secret) == unknown


async def test_an_expiring_tokens_open_websocket_is_closed_when_it_expires(
    base_url: str, engine: AsyncEngine
) -> None:
    name = unique("expiring-socket")
    lifetime = 6  # time for the socket to open and subscribe first, on a busy machine
    async with engine.begin() as conn:
        issued = await create_token(
            conn, name, Role.OPERATOR, expires_in=timedelta(seconds=lifetime)
        )
    async with Subscriber(base_url, issued.secret) as subscriber:
        await subscriber.subscribe(UPDATED, {"skus": ["NOTHING-1"]})
        opened = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            # Expiry, then the once-a-second check of open sockets, and room for a busy machine.
            await asyncio.wait_for(subscriber.socket.recv(), lifetime + 1 + 3)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert "expired" in closed.value.rcvd.reason
    assert time.monotonic() - opened > 1


async def test_the_listing_shows_each_tokens_expiry(database_url: str) -> None:
    month, forever = unique("month"), unique("forever")
    await succeeded(
        database_url, "create", "--role", "ADMIN", "--name", month, "--expires-in", "30d"
    )
    await succeeded(database_url, "create", "--role", "ADMIN", "--name", forever)
    shown = await listing(database_url)
    due = datetime.now(UTC) + timedelta(days=30)
    assert abs(moment(shown[month]["EXPIRES"]) - due) < timedelta(minutes=1)
    assert shown[forever]["EXPIRES"] == "never"
    assert shown[forever]["LAST USED"] == "never"
    assert all(row["SECRET"].endswith("...") for row in shown.values())


@pytest.mark.parametrize("given", ["30x", "30", "soon", "0d", "-1h", "1d-2h", "100000d", ""])
async def test_a_nonsense_expiry_is_refused_naming_the_option(
    database_url: str, engine: AsyncEngine, given: str
) -> None:
    name = unique("nonsense")
    done = await onhand_token(
        database_url, "create", "--role", "OPERATOR", "--name", name, "--expires-in", given
    )
    assert done.returncode == 2
    assert "--expires-in" in done.stderr
    assert done.stdout == ""
    assert await stored(engine, name) is None, "a refused command created a token"


async def test_a_rotation_refuses_a_nonsense_overlap_or_name_and_changes_nothing(
    database_url: str, engine: AsyncEngine
) -> None:
    name = unique("steady")
    await succeeded(database_url, "create", "--role", "OPERATOR", "--name", name)
    before = await stored(engine, name)
    for arguments, option in [
        ((name, "--overlap", "1y"), "--overlap"),
        ((name, "--overlap", "an hour"), "--overlap"),
        ((name, "--expires-in", "0s"), "--expires-in"),
        ((), "NAME"),
        ((name, "--name", "another"), "NAME"),
    ]:
        done = await onhand_token(database_url, "rotate", *arguments)
        assert done.returncode == 2, (arguments, done)
        assert option in done.stderr, (arguments, done.stderr)
        assert done.stdout == ""
    assert (await stored(engine, name)).token_hash == before.token_hash


async def test_a_rotated_token_keeps_its_identity_and_its_old_secret_for_the_overlap(
    database_url: str, http: httpx.AsyncClient, engine: AsyncEngine, admin: Client
) -> None:
    await factories.stocked(admin, "ROTATE-1", {"DC-1": 0})
    name = unique("rotating")
    old = (await succeeded(database_url, "create", "--role", "OPERATOR", "--name", name)).strip()
    await adjust(Client(http, old), "ROTATE-1", "DC-1", 1)
    before = await stored(engine, name)

    rotated = await onhand_token(database_url, "rotate", name, "--overlap", f"{LIFETIME}s")
    rotated_at = time.monotonic()
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("onh_")
    assert new != old
    assert len(rotated.stdout.splitlines()) == 1
    assert "works until" in rotated.stderr

    identity = {"name": name, "role": "OPERATOR"}
    assert (await Client(http, new)(VIEWER))["viewer"] == identity
    assert (await Client(http, old)(VIEWER))["viewer"] == identity
    await adjust(Client(http, new), "ROTATE-1", "DC-1", 2)
    after = await stored(engine, name)
    assert (after.id, after.role, after.channel_id) == (before.id, before.role, before.channel_id)
    async with engine.connect() as conn:
        actors = (
            await conn.execute(
                text(
                    "SELECT m.actor FROM inventory_movements m"
                    " JOIN products p ON p.id = m.product_id"
                    " WHERE p.sku = 'ROTATE-1' AND m.reason = 'RECEIPT' ORDER BY m.id"
                )
            )
        ).scalars()
        assert list(actors) == [name, name], "the ledger names the same actor before and after"

    state = (await listing(database_url))[name]["STATE"]
    assert state.startswith("active; previous secret " + old[:10] + "... until ")

    await until(
        lambda: _status(http, old, 401),
        "the old secret is refused once the overlap ends",
        LIFETIME + 5,
    )
    assert time.monotonic() - rotated_at > LIFETIME / 2, (
        "the old secret stopped before its overlap ended"
    )
    assert (await Client(http, new)(VIEWER))["viewer"] == identity
    assert (await listing(database_url))[name]["STATE"] == "active"


async def _status(http: httpx.AsyncClient, secret: str, status: int) -> bool:
    return (await Client(http, secret).post(VIEWER)).status_code == status


async def test_a_rotation_without_overlap_stops_the_old_secret_at_once_where_it_is_cached(
    database_url: str, http: httpx.AsyncClient, engine: AsyncEngine, admin: Client
) -> None:
    await channel(admin, "ROTATE-WEB")
    name = unique("bound")
    async with engine.begin() as conn:
        channel_id = (
            await conn.execute(text("SELECT id FROM channels WHERE code = 'ROTATE-WEB'"))
        ).scalar_one()
        old = (await create_token(conn, name, Role.STOREFRONT, channel_id)).secret
    assert (await Client(http, old)(VIEWER))["viewer"]["name"] == name  # cached for a minute

    new = (await succeeded(database_url, "rotate", name)).strip()
    # The server was told at commit: no waiting for its cache.
    await until(lambda: _status(http, old, 401), "the old secret is refused", seconds=1.5)
    assert (await Client(http, new)(VIEWER))["viewer"] == {"name": name, "role": "STOREFRONT"}
    assert (await stored(engine, name)).channel_id == channel_id, "still bound to its channel"

    # Rotating again during an overlap ends the older secret's overlap at once.
    newer = (await succeeded(database_url, "rotate", "--name", name, "--overlap", "1h")).strip()
    newest = (await succeeded(database_url, "rotate", name, "--overlap", "1h")).strip()
    assert await _status(http, new, 401)
    assert await _status(http, newer, 200)
    assert await _status(http, newest, 200)


async def test_only_an_active_token_is_rotated(database_url: str) -> None:
    gone = await onhand_token(database_url, "rotate", unique("nobody"))
    assert (gone.returncode, gone.stdout.startswith("no active token")) == (1, True)
    name = unique("revoked")
    await succeeded(database_url, "create", "--role", "OPERATOR", "--name", name)
    await succeeded(database_url, "revoke", name)
    again = await onhand_token(database_url, "rotate", name)
    assert again.returncode == 1
    assert again.stdout == f"no active token named {name!r}\n"


async def test_an_expired_token_is_rotated_only_with_a_new_expiry(
    database_url: str, http: httpx.AsyncClient
) -> None:
    name = unique("lapsed")
    await succeeded(
        database_url, "create", "--role", "OPERATOR", "--name", name, "--expires-in", "1s"
    )
    await asyncio.sleep(1.5)
    refused = await onhand_token(database_url, "rotate", name)
    assert refused.returncode == 2
    assert "--expires-in" in refused.stdout
    secret = (await succeeded(database_url, "rotate", name, "--expires-in", "1h")).strip()
    assert await _status(http, secret, 200)
    shown = (await listing(database_url))[name]
    assert shown["STATE"] == "active"
    due = datetime.now(UTC) + timedelta(hours=1)
    assert abs(moment(shown["EXPIRES"]) - due) < timedelta(minutes=1)


async def test_last_use_is_written_in_batches_never_by_a_request(engine: AsyncEngine) -> None:
    name = unique("batched")
    async with engine.begin() as conn:
        secret = (await create_token(conn, name, Role.OPERATOR)).secret
    # No cache at all: every call looks the token up, and still none writes.
    authenticator = Authenticator(engine, ttl=0)
    for _ in range(5):
        assert await authenticator.authenticate(f"Bearer {secret}") is not None
    assert (await stored(engine, name)).last_used_at is None

    assert await authenticator.record_uses() == 1
    first = await stored(engine, name)
    assert abs(first.last_used_at - first.now) < timedelta(seconds=5)
    assert await authenticator.record_uses() == 0, "nothing used since: nothing written"

    await asyncio.sleep(1.1)
    assert await authenticator.authenticate(f"Bearer {secret}") is not None
    assert await authenticator.record_uses() == 1
    assert (await stored(engine, name)).last_used_at > first.last_used_at


async def test_a_server_writes_last_use_every_interval(
    settings: Settings, database_url: str, engine: AsyncEngine
) -> None:
    name = unique("listed-use")
    async with engine.begin() as conn:
        secret = (await create_token(conn, name, Role.OPERATOR)).secret
    often = settings.model_copy(update={"token_last_used_seconds": 0.3})
    with running_server(often, database_url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            used = datetime.now(UTC)
            assert await _status(http, secret, 200)

            async def shown() -> bool:
                return (await listing(database_url))[name]["LAST USED"] != "never"

            await until(shown, "the listing shows the last use", seconds=10)
    last = moment((await listing(database_url))[name]["LAST USED"])
    assert abs(last - used) < timedelta(seconds=5)


@pytest.mark.slow
async def test_a_stopping_server_writes_the_last_uses_it_has_not_written_yet(
    fresh_database: str,
) -> None:
    name = unique("stopping")
    await succeeded(fresh_database, "create", "--role", "OPERATOR", "--name", name)
    secret = (await succeeded(fresh_database, "rotate", name)).strip()
    with onhand_process(fresh_database) as served:  # writes once a minute (the default)
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
            for _ in range(20):
                assert await _status(http, secret, 200)
            used = datetime.now(UTC)
        await asyncio.sleep(0.5)
        assert (await listing(fresh_database))[name]["LAST USED"] == "never"
        served.stop()
    last = moment((await listing(fresh_database))[name]["LAST USED"])
    assert abs(last - used) < timedelta(seconds=5)
