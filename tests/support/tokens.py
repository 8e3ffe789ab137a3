"""`onhand token ...` run as a real process, and what its listing says."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime

from support.processes import ONHAND, environment


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


async def onhand_token(database_url: str, *arguments: str) -> Done:
    """`onhand token <arguments>` against the database, once it has exited."""
    process = await asyncio.create_subprocess_exec(
        str(ONHAND),
        "token",
        *arguments,
        env=environment(ONHAND_DATABASE_URL=database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Done(process.returncode, stdout.decode(), stderr.decode())


async def succeeded(database_url: str, *arguments: str) -> str:
    done = await onhand_token(database_url, *arguments)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def listing(database_url: str) -> dict[str, dict[str, str]]:
    """`onhand token list` as {name: {column: value}}, by its header line."""
    header, *rows = (await succeeded(database_url, "list")).splitlines()
    columns = header.split("\t")
    return {row.split("\t")[0]: dict(zip(columns, row.split("\t"), strict=True)) for row in rows}


def moment(text: str) -> datetime:
    """A time as the listing shows it (UTC, to the second)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
