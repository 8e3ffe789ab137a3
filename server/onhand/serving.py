"""`onhand serve`: claim the port, get the database ready, serve.

What a person needs to get in (the GraphiQL address, the first ADMIN token) is printed only
once the server listens: a start that fails must not show an address that does not answer,
nor spend the one showing of the token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn

from onhand.app import create_app
from onhand.config import Settings
from onhand.runtime import database_url, migrated_engine
from onhand.serving_announce import announce, dashboard_address
from onhand.serving_processes import serve_processes


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    workers = args.workers if args.workers is not None else settings.workers
    try:
        listener = _bind(host, port, share=workers > 1)
    except OSError as error:
        print(f"error: {_cannot_listen(host, port, error)}", file=sys.stderr)
        return 1
    with listener:
        url = database_url(settings)
        asyncio.run(_prepare(url, demo=args.demo))
        shown_host = f"[{host}]" if ":" in host else host  # an IPv6 address
        address = f"http://{shown_host}:{listener.getsockname()[1]}/graphql"
        options = _server_options(settings)
        if workers > 1:
            return serve_processes(listener, settings, url, address, workers, options)
        config = uvicorn.Config(create_app(settings, url), **options)
        server = _AnnouncingServer(config, url, address, dashboard_address(settings, address))
        server.run(sockets=[listener])
    return 0 if server.started else 1


# How uvicorn speaks WebSocket (the tests' servers use the same).
WEBSOCKET_OPTIONS: dict[str, Any] = {
    # Compressing each WebSocket message for each subscriber separately would cost more than
    # sending it: events are small and fanned out to many sockets.
    "ws_per_message_deflate": False,
    # The sans-I/O implementation writes each frame straight to the transport (the default
    # one goes through a protocol task and a drain per message): with 1,000 subscribers at 50
    # changes a second, p99 commit-to-subscriber 97-145 ms against 228-450 ms
    # (bench/subscriptions.py). It still waits while a slow client's transport is paused.
    "ws": "websockets-sansio",
}


def _server_options(settings: Settings) -> dict[str, Any]:
    return {
        "log_level": settings.log_level.lower(),
        "proxy_headers": True,
        **WEBSOCKET_OPTIONS,
        # On SIGTERM, requests in flight get this long to finish; then the server stops
        # anyway (a stuck client or request must not keep a rolling deploy waiting).
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }


async def _prepare(url: str, *, demo: bool) -> None:
    async with migrated_engine(url) as engine:
        if demo:
            from onhand.seed.demo import seed_if_empty

            await seed_if_empty(engine, size="small")


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, saying how to get in once it listens."""

    def __init__(
        self, config: uvicorn.Config, database_url: str, address: str, dashboard: str | None
    ) -> None:
        super().__init__(config)
        self.database_url = database_url
        self.address = address
        self.dashboard = dashboard

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn stops gracefully on SIGINT and SIGTERM; on SIGHUP (a closed terminal) too,
        # unless it is ignored (nohup), and then, as for the others, passes the signal on to
        # the handler it replaced.
        with super().capture_signals():
            previous = signal.getsignal(signal.SIGHUP)
            if previous is not signal.SIG_IGN:
                signal.signal(signal.SIGHUP, self.handle_exit)
            try:
                yield
            finally:
                signal.signal(signal.SIGHUP, previous)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            await self.announce()

    async def announce(self) -> None:
        await announce(self.database_url, self.address, self.dashboard)


def _bind(host: str, port: int, *, share: bool = False) -> socket.socket:
    """The server's socket, bound but not yet listening (uvicorn listens on it). `share`: for
    --workers, let the server processes bind sockets of their own to the port too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if share:
            # Server processes of --workers join the port with sockets of their own.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


def _cannot_listen(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {host}:{port}: the port is already in use (another onhand or"
            " another program). Choose another port with --port or ONHAND_PORT."
        )
    reason = error.strerror or str(error)
    return (
        f"cannot listen on {host}:{port}: {reason}. Choose another address with --host and"
        " --port (ONHAND_HOST, ONHAND_PORT)."
    )
