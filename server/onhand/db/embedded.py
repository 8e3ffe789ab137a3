"""The embedded PostgreSQL (pgserver) used when no ONHAND_DATABASE_URL is set.

It lives in the data directory, keeps its data between runs and stops when the last process
using it exits, so `onhand serve` works on a bare machine with nothing but pip.

pgserver counts the processes using a server in a list of process ids kept in the data
directory, and the last one to leave stops it. A process that was killed never leaves, and
would keep the server running for ever: before leaving, a process drops the ids of processes
that are gone.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

DATABASE = "onhand"
_servers: dict[Path, Any] = {}


def start(data_dir: Path, *, database: str = DATABASE, cleanup: str = "stop") -> str:
    """Start (or join) the embedded server under data_dir and return a URL of `database`."""
    with warnings.catch_warnings():
        # pgserver keeps its lock file in the user's runtime directory and says so when there
        # is none (as under sudo or in containers) before falling back to /tmp: fine as it is.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pgserver  # imported here: starting it is slow and most commands never need it

    pgdata = _pgdata(data_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode=cleanup)
        _servers[pgdata] = server
        # Registered after pgserver's own exit hook, so it runs first (atexit runs the last
        # registered first) and pgserver's then finds nothing left to do.
        atexit.register(leave, data_dir)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        # Another process may create it at the same moment: that is fine too.
        with contextlib.suppress(subprocess.CalledProcessError):
            server.psql(f'CREATE DATABASE "{database}";')
    return str(server.get_uri(database))


def leave(data_dir: Path) -> None:
    """This process stops using the server under data_dir; the last user to leave stops it."""
    server = _servers.pop(_pgdata(data_dir), None)
    if server is None:
        return
    with server._lock:  # pgserver's lock across processes, held whenever the list changes
        users = server.global_process_id_list
        for pid in users.get():
            if pid != os.getpid() and not _alive(pid):
                users.get_and_remove(pid)
    server.cleanup()


def leave_all() -> None:
    """Leave every embedded server this process joined (for exits that skip atexit)."""
    for pgdata in list(_servers):
        leave(pgdata.parent)


def _pgdata(data_dir: Path) -> Path:
    return (data_dir / "pgdata").resolve()


def _alive(pid: int) -> bool:
    try:
        # A process that exited but was not yet waited for by its parent is a zombie: gone.
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
