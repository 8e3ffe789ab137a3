"""Looking at an embedded PostgreSQL from outside: is the postmaster of a data directory up?"""

from __future__ import annotations

import time
from pathlib import Path

import psutil


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the postmaster running on ONHAND_DATA_DIR `data_dir`, if one runs."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None
    return pid if running(pid) else None


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
