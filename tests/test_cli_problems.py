"""A database that cannot be reached is one clear line and exit code 1 from every command that
needs it, not a traceback; so is a port that is taken for `onhand serve`."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from onhand.db.engine import plain_url
from support import database
from support.processes import ONHAND, environment
from support.server import free_port

pytestmark = pytest.mark.slow


EVERY_COMMAND = ("serve", "migrate", "worker", "token", "import", "export")


def command(name: str, tmp_path: Path) -> list[str]:
    if name == "serve":
        return ["serve", "--port", str(free_port())]
    if name == "token":
        return ["token", "list"]
    if name == "import":
        csv = tmp_path / "stock.csv"
        csv.write_text("SKU,WarehouseCode,Quantity\nSKU-1,DC-001,5\n")
        return ["import", str(csv)]
    return [name]


async def run(arguments: list[str], database_url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(ONHAND),
        *arguments,
        env=environment(ONHAND_DATABASE_URL=database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def assert_one_line_from_each(
    names: tuple[str, ...], tmp_path: Path, database_url: str, *expected: str
) -> None:
    """Each command fails with exit code 1 and one line on stderr naming the problem. (Every
    command meets the first problem below; each other problem is tried on two of them, which
    is enough as they share the same path from the error to its line.)"""
    every = [command(name, tmp_path) for name in names]
    results = await asyncio.gather(*(run(arguments, database_url) for arguments in every))
    for arguments, (code, out, err) in zip(every, results, strict=True):
        said = f"onhand {' '.join(arguments)} said:\n{out}{err}"
        assert code == 1, said
        assert "Traceback" not in err, said
        assert out == "", said
        lines = err.splitlines()
        assert len(lines) == 1, said
        for words in expected:
            assert words in lines[0], said


def with_user(url: str, user: str) -> str:
    return make_url(plain_url(url)).set(username=user).render_as_string(hide_password=False)


async def execute(url: str, statement: str) -> None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_nothing_listening_on_the_port(tmp_path: Path) -> None:
    port = free_port()
    await assert_one_line_from_each(
        EVERY_COMMAND,
        tmp_path,
        f"postgresql://postgres@127.0.0.1:{port}/onhand",
        f"127.0.0.1:{port}",
        "nothing accepts connections",
        "ONHAND_DATABASE_URL",
    )


async def test_a_database_that_does_not_exist(tmp_path: Path, database_server: str) -> None:
    name = f"onhand_missing_{uuid.uuid4().hex[:8]}"
    await assert_one_line_from_each(
        ("serve", "import"),
        tmp_path,
        database.with_database(database_server, name),
        f'database "{name}" does not exist',
        "ONHAND_DATABASE_URL",
    )


async def test_an_unknown_role(tmp_path: Path, database_server: str) -> None:
    role = f"onhand_nobody_{uuid.uuid4().hex[:8]}"
    await assert_one_line_from_each(
        ("migrate", "export"),
        tmp_path,
        with_user(database_server, role),
        f'role "{role}" does not exist',
        "user name",
    )


@pytest.mark.parametrize(
    ("url", "named", "names"),
    [
        ("mysql://onhand@127.0.0.1:3306/onhand", "mysql://", ("serve", "token")),
        ("127.0.0.1:5432", "without a scheme", ("migrate",)),
    ],
)
async def test_a_url_that_is_not_postgresql(
    tmp_path: Path, url: str, named: str, names: tuple[str, ...]
) -> None:
    await assert_one_line_from_each(
        names, tmp_path, url, "ONHAND_DATABASE_URL", "must be a PostgreSQL URL", named
    )


@pytest_asyncio.fixture
async def role_without_connections(database_server: str) -> AsyncIterator[str]:
    """A role allowed no connection at all: each attempt is PostgreSQL's "too many"."""
    role = f"onhand_limited_{uuid.uuid4().hex[:8]}"
    await execute(database_server, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    yield role
    await execute(database_server, f'DROP ROLE "{role}"')


async def test_too_many_clients(
    tmp_path: Path, database_server: str, role_without_connections: str
) -> None:
    await assert_one_line_from_each(
        ("worker", "token"),
        tmp_path,
        with_user(database_server, role_without_connections),
        "too many connections",
        "max_connections",
    )


@pytest.fixture
def port_in_use() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


async def test_serve_on_a_port_in_use(port_in_use: int, database_url: str) -> None:
    code, out, err = await run(["serve", "--port", str(port_in_use)], database_url)
    assert code == 1, out + err
    assert out == "", "no address that does not answer"
    [line] = err.splitlines()
    assert f"127.0.0.1:{port_in_use}" in line
    assert "in use" in line
    assert "--port" in line
    assert "ONHAND_PORT" in line
