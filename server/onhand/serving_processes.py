"""`onhand serve --workers N`: N server processes on one socket, the background work once.

One Python process runs its event loop on one core; a machine with more cores serves more
requests with more processes. uvicorn's supervisor starts the N processes on the socket the
parent bound (the kernel spreads connections among them), restarts any that dies, and stops
them all on SIGINT/SIGTERM. The background loops (outbox relay, webhooks, sweeper, ...) run
in one more process of their own, as `onhand worker` would, so that each runs once however
many processes serve. Events reach every server process through the broadcast: with the
in-process default (memory://) PostgreSQL's LISTEN/NOTIFY carries them instead.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import threading
import time
from typing import Any, cast

import uvicorn
from uvicorn.supervisors import Multiprocess

from onhand.config import Settings
from onhand.db.engine import plain_url
from onhand.logs import configure_logging
from onhand.serving_announce import announce, dashboard_address

APP_FACTORY = "onhand.app:app_from_environment"


def serve_processes(
    listener: socket.socket,
    settings: Settings,
    url: str,
    address: str,
    workers: int,
    options: dict[str, Any],
) -> int:
    # Children are spawned: they read their settings from the environment, like any onhand.
    os.environ.update(child_environment(settings, url))
    config = uvicorn.Config(APP_FACTORY, factory=True, workers=workers, **options)
    # The parent's socket keeps the port (bound, never listening, so the kernel hands it no
    # connection); each process listens on a socket of its own in the same SO_REUSEPORT group.
    host, port = listener.getsockname()[:2]
    host, port = str(host), int(port)
    own_socket = cast(socket.socket, _OwnSocket(listener.family, host, port))
    spawn = multiprocessing.get_context("spawn")
    background = spawn.Process(target=run_background, args=(url,), name="onhand-background")
    background.start()
    threading.Thread(
        target=_announce_once_listening,
        args=(host, port, url, address, dashboard_address(settings, address)),
        daemon=True,
    ).start()  # fmt: skip
    try:
        Multiprocess(config, sockets=[own_socket]).run()
    finally:
        background.terminate()  # SIGTERM: the loops stop at a batch boundary
        background.join(settings.shutdown_grace_seconds)
        if background.is_alive():
            background.kill()
            background.join()
    return 0


def _announce_once_listening(
    host: str, port: int, url: str, address: str, dashboard: str | None
) -> None:
    """The address is shown once a server process answers on it, as a single server does."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    while True:
        try:
            with socket.create_connection((target, port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    asyncio.run(announce(url, address, dashboard))


class _OwnSocket:
    """Stands for a listening socket in uvicorn's supervisor, which hands its `sockets` to
    each process it spawns (pickled): each process unpickles it as a new socket of its own,
    bound with SO_REUSEPORT to the port. Processes sharing one socket race for every
    connection, and the first to wake takes most (15 of 16 connections went to one of two
    processes); with a socket each, the kernel spreads connections among them by hash."""

    def __init__(self, family: socket.AddressFamily, host: str, port: int) -> None:
        self.family, self.host, self.port = family, host, port

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (reuse_port_socket, (self.family, self.host, self.port))


def reuse_port_socket(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def child_environment(settings: Settings, url: str) -> dict[str, str]:
    environment = {"ONHAND_DATABASE_URL": url, "ONHAND_RUN_WORKERS_IN_SERVER": "false"}
    if settings.broadcast_url.startswith("memory:"):
        environment["ONHAND_BROADCAST_URL"] = plain_url(url)
    return environment


def run_background(url: str) -> None:
    """The background process: every loop, until SIGTERM or SIGINT."""
    from onhand.config import get_settings
    from onhand.workers import runner

    settings = get_settings()
    configure_logging(settings)
    asyncio.run(runner.work(settings, url))
