"""The `onhand` command: serve | migrate | seed | token | schema (and what later parts add)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import NoReturn

from pydantic import ValidationError

from onhand.cli.durations import duration, positive_duration
from onhand.cli.import_arguments import add_export_arguments, add_import_arguments
from onhand.cli.simulate import add_simulate_arguments
from onhand.config import Settings, get_settings
from onhand.logs import configure_logging

Handler = Callable[[argparse.Namespace, Settings], int | None]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.serving import serve_command

    return serve_command(args, settings)


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
    from onhand.runtime import database_url, migrated_engine
    from onhand.workers import runner

    try:
        runner.selected(args.only)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    url = database_url(settings)

    async def run() -> None:
        async with migrated_engine(url):
            pass  # only a check: an unmigrated database is refused before any loop starts
        await runner.work(settings, url, args.only)

    asyncio.run(run())
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.cli import tokens as admin
    from onhand.runtime import database_url

    if args.action in ("rotate", "revoke"):
        # The name as an argument or as --name (revoke's older spelling), but only once.
        given = [name for name in (args.name, args.name_option) if name is not None]
        if len(given) != 1:
            args.action_parser.error("give the token's name once: NAME or --name NAME")
        args.name = given[0]
    return asyncio.run(admin.run(args, database_url(settings)))


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.runtime import database_url, migrated_engine
    from onhand.seed.demo import seed

    url = database_url(settings)

    async def run() -> None:
        async with migrated_engine(url) as engine:
            print(await seed(engine, size=args.size, seed_number=args.seed))

    asyncio.run(run())
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.cli.imports import import_command

    return import_command(args, settings)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.cli.imports import export_command

    return export_command(args, settings)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.cli.simulate import simulate_command

    return simulate_command(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onhand", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host", help="address to listen on (ONHAND_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (ONHAND_PORT)")
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")
    serve.add_argument(
        "--workers",
        type=int,
        choices=range(1, 65),
        metavar="N",
        help="server processes, one per core to use (ONHAND_WORKERS, default 1)",
    )
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

    simulate = commands.add_parser(
        "simulate",
        help="a simulated distributor's day: the legacy batch sync against onhand, side by side",
    )
    add_simulate_arguments(simulate)
    simulate.set_defaults(handler=_simulate)

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
    create.add_argument(
        "--source-system",
        metavar="CODE",
        help="an ADMIN or OPERATOR token of a system of record (an ERP, a WMS) that then records"
        " events only as that source system",
    )
    create.add_argument(
        "--expires-in",
        type=positive_duration,
        metavar="DURATION",
        help="the token stops working this long from now (30d, 12h, 90m, 45s; default: never)",
    )
    rotate = actions.add_parser(
        "rotate",
        help="give a token a new secret (shown once); same name, role and channel",
    )
    _token_name(rotate)
    rotate.add_argument(
        "--overlap",
        type=duration,
        default=timedelta(0),
        metavar="DURATION",
        help="how long the old secret still works (as 1h; default 0: it stops at once)",
    )
    rotate.add_argument(
        "--expires-in",
        type=positive_duration,
        metavar="DURATION",
        help="a new expiry, this long from now (default: the token's expiry is kept)",
    )
    revoke = actions.add_parser("revoke", help="revoke a token by name")
    _token_name(revoke)
    actions.add_parser(
        "list", help="list tokens with their expiry and last use (never their secrets)"
    )
    token.set_defaults(handler=_token)
    return parser


def _token_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="the token's name")
    parser.add_argument("--name", dest="name_option", metavar="NAME", help="the same, as an option")
    parser.set_defaults(action_parser=parser)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        sys.exit("\n".join(f"error: {problem}" for problem in _setting_problems(error)))
    configure_logging(settings)
    # `kill` and a closed terminal end onhand as Ctrl-C does: by an exception, so that what
    # must be undone on the way out is (the embedded PostgreSQL stops with its last user).
    # A signal ignored on purpose (`nohup onhand serve`) stays ignored.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _stop)
    handler: Handler = args.handler
    try:
        code = handler(args, settings) or 0
    except KeyboardInterrupt:
        _die_of(signal.SIGINT)
    except Stopped as stopped:
        _die_of(stopped.signum)
    except Exception as error:
        from onhand.db.problems import explain, target

        problem = explain(error, target(settings.database_url, settings.data_dir))
        if problem is None:
            raise
        sys.exit(f"error: {problem}")
    sys.exit(code)


class Stopped(BaseException):
    """A signal asked the process to stop (a BaseException, as KeyboardInterrupt is)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def _die_of(signum: int) -> NoReturn:
    """End as killed by the signal, which is what the shell and supervisors expect, once the
    embedded PostgreSQL was left: dying of a signal skips the exit hooks that would."""
    from onhand.db import embedded

    embedded.leave_all()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
    sys.exit(128 + signum)  # not reached: the signal ends the process


def _setting_problems(error: ValidationError) -> list[str]:
    return [
        f"ONHAND_{'_'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
        for problem in error.errors()
    ]
