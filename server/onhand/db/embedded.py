"""The embedded PostgreSQL (pgserver) used when no ONHAND_DATABASE_URL is set.

It lives in the data directory, keeps its data between runs and stops when the last process
using it exits, so `onhand serve` works on a bare machine with nothing but pip.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE = "onhand"
_servers: dict[Path, Any] = {}


def start(data_dir: Path, *, database: str = DATABASE, cleanup: str = "stop") -> str:
    """Start (or join) the embedded server under data_dir and return a URL of `database`."""
    import pgserver  # imported here: starting it is slow and most commands never need it

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode=cleanup)
        _servers[pgdata] = server
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        # Another process may create it at the same moment: that is fine too.
        with contextlib.suppress(subprocess.CalledProcessError):
            server.psql(f'CREATE DATABASE "{database}";')
    return str(server.get_uri(database))
