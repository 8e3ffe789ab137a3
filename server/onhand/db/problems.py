"""What went wrong reaching PostgreSQL, in one line a person can act on.

The commands print this instead of a traceback: the traceback of a refused connection is
fifty lines about asyncio and says nothing about which setting to fix.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from onhand.db.engine import plain_url

URL_SETTING = "ONHAND_DATABASE_URL"
# The errors of a connection that could not be made or was cut, not of a statement.
UNREACHABLE = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH}


def target(database_url: str | None, data_dir: Path) -> str:
    """The database as the messages name it (never with its password)."""
    if not database_url:
        return f"the embedded PostgreSQL in {data_dir}"
    try:
        url = make_url(plain_url(database_url))
    except (ArgumentError, ValueError):  # checked by Settings; this only keeps it safe
        return f"the PostgreSQL of {URL_SETTING}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}"


def explain(error: BaseException, where: str) -> str | None:
    """One line naming the problem with the database and what to check; None for any error
    that is not about reaching it."""
    for cause in _chain(error):
        message = _explain_one(cause, where)
        if message:
            return message
    return None


def _explain_one(error: BaseException, where: str) -> str | None:
    if isinstance(error, asyncpg.PostgresError):
        return _refused_by_server(error, where)
    if isinstance(error, socket.gaierror):
        return (
            f"cannot connect to {where}: the host name is unknown ({error.strerror}). Check"
            f" the host in {URL_SETTING}."
        )
    if isinstance(error, TimeoutError):
        return (
            f"{where} did not answer in time. Check the host and port in {URL_SETTING}, and"
            " that no firewall is in the way."
        )
    if isinstance(error, OSError) and (
        error.errno in UNREACHABLE or str(error).startswith("Multiple exceptions")
    ):
        return (
            f"cannot connect to {where}: nothing accepts connections there. Is PostgreSQL"
            f" running, and are the host and port in {URL_SETTING} right?"
        )
    if isinstance(error, ConnectionError):
        # Something answered, but not as PostgreSQL does (asyncpg says so in its message).
        return f"cannot talk to {where}: {error}. Is that PostgreSQL's port ({URL_SETTING})?"
    return None


def _refused_by_server(error: asyncpg.PostgresError, where: str) -> str | None:
    state = error.sqlstate or ""
    said = str(error)
    if state == "3D000":
        return (
            f"{where} has no such database: {said}. Create it (createdb NAME) or fix the"
            f" database name in {URL_SETTING}."
        )
    if state == "28P01":
        return f"{where} refused the login: {said}. Check the password in {URL_SETTING}."
    if state.startswith("28"):
        return (
            f"{where} refused the login: {said}. Check the user name in {URL_SETTING} (and"
            " the server's pg_hba.conf)."
        )
    if state == "53300":
        return (
            f"{where} refused the connection: {said}. Close other clients, lower"
            " ONHAND_DB_POOL_SIZE and ONHAND_DB_MAX_OVERFLOW, or raise the server's"
            " max_connections (or the role's CONNECTION LIMIT)."
        )
    if state == "57P03":
        return f"{where} cannot take connections now: {said}. Try again in a moment."
    if state.startswith("08"):
        return f"lost the connection to {where}: {said}. Is the server still running?"
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what caused it, and so on (SQLAlchemy keeps the driver's as `orig`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        original = getattr(current, "orig", None)
        current = (
            original
            if isinstance(original, BaseException)
            else current.__cause__ or current.__context__
        )
