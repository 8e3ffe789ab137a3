"""The `onhand` command: serve | migrate | seed | token | schema (and what later parts add)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable

from onhand.config import Settings, get_settings
from onhand.inventory.imports.arguments import add_export_arguments, add_import_arguments

Handler = Callable[[argparse.Namespace, Settings], int | None]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from onhand.app import create_app
    from onhand.db.engine import create_engine
    from onhand.runtime import bootstrap_admin, database_url, require_migrated

    url = database_url(settings)

    async def prepare() -> str | None:
        engine = create_engine(url)
        try:
            await require_migrated(engine)
            issued = await bootstrap_admin(engine)
            if args.demo:
                from onhand.seed.demo import seed_if_empty

                await seed_if_empty(engine, size="small")
        finally:
            await engine.dispose()
        return issued.secret if issued else None

    secret = asyncio.run(prepare())
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    print(f"onhand is starting: GraphiQL at http://{host}:{port}/graphql", flush=True)
    if secret:
        print(
            "An ADMIN token was created for this new database. It is shown only now;"
            " send it as `Authorization: Bearer <token>`:\n\n"
            f"    {secret}\n",
            flush=True,
        )
    uvicorn.run(
        create_app(settings, url),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        # Compressing each WebSocket message for each subscriber separately would cost more
        # than sending it: events are small and fanned out to many sockets.
        ws_per_message_deflate=False,
        # On SIGTERM, requests in flight get this long to finish; then the server stops
        # anyway (a stuck client or request must not keep a rolling deploy waiting).
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.db import embedded, migrate

    url = settings.database_url or embedded.start(settings.data_dir)
    migrate.upgrade(url)
    print("The database is migrated to the newest version.")
    return 0


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.api.schema import print_sdl

    sys.stdout.write(print_sdl())
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.db.engine import create_engine
    from onhand.runtime import database_url, require_migrated
    from onhand.workers import runner

    url = database_url(settings)

    async def run() -> None:
        engine = create_engine(url)
        try:
            await require_migrated(engine)
        finally:
            await engine.dispose()
        await runner.work(settings, url, args.only)

    try:
        runner.selected(args.only)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    asyncio.run(run())
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.auth import admin

    return asyncio.run(admin.run(args, settings))


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.db.engine import create_engine
    from onhand.runtime import database_url, require_migrated
    from onhand.seed.demo import seed

    url = database_url(settings)

    async def run() -> None:
        engine = create_engine(url)
        try:
            await require_migrated(engine)
            summary = await seed(engine, size=args.size, seed_number=args.seed)
            print(summary)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.inventory.imports.commands import import_command

    return import_command(args, settings)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.inventory.imports.commands import export_command

    return export_command(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onhand", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host", help="address to listen on (ONHAND_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (ONHAND_PORT)")
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")
    serve.set_defaults(handler=_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)
    commands.add_parser("schema", help="print the GraphQL SDL").set_defaults(handler=_schema)

    worker = commands.add_parser(
        "worker",
        help="run the background work (outbox relay, webhooks, sweeper, ...) without serving",
    )
    worker.add_argument(
        "--only", action="append", metavar="LOOP", help="run only this loop (repeatable)"
    )
    worker.set_defaults(handler=_worker)

    seed = commands.add_parser("seed", help="load demo data")
    seed.add_argument("--size", choices=["small", "distributor"], default="small")
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    seed.set_defaults(handler=_seed)

    imports = commands.add_parser("import", help="import stock from a CSV file")
    add_import_arguments(imports)
    imports.set_defaults(handler=_import)
    exports = commands.add_parser("export", help="export stock as CSV")
    add_export_arguments(exports)
    exports.set_defaults(handler=_export)

    token = commands.add_parser("token", help="manage API tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a token (its secret is shown once)")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role", required=True, choices=["ADMIN", "OPERATOR", "STOREFRONT", "CONNECTOR"]
    )
    create.add_argument(
        "--channel",
        help="the channel code the token is bound to: required for a CONNECTOR, optional for a"
        " STOREFRONT (which then uses only that channel)",
    )
    revoke = actions.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("--name", required=True)
    actions.add_parser("list", help="list tokens (never their secrets)")
    token.set_defaults(handler=_token)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic narrates every step at INFO; onhand says what matters itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))
    handler: Handler = args.handler
    sys.exit(handler(args, settings) or 0)
