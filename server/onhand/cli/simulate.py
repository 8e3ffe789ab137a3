"""`onhand simulate`: a seeded distributor's day under the legacy batch sync and under onhand,
side by side (see onhand/simulation)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from onhand.config import Settings


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scale",
        choices=["small", "distributor"],
        default="small",
        help="small: 2,000 SKUs; distributor: the case study's 48,000 SKUs (both 4 warehouses,"
        " 1,100 orders a day)",
    )
    parser.add_argument(
        "--hours", type=_hours, default=24.0, help="simulated hours from midnight (default 24)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the world and its orders (same seed, same stream)"
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        help="simulated seconds per real second (default: 900 small, 120 distributor)",
    )
    parser.add_argument(
        "--url",
        help="an onhand server to run against, started with ONHAND_SIMULATION_SPEED (on an"
        " empty database; ONHAND_DATABASE_URL names its database, for the tokens); default: a"
        " server of its own on a fresh database",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")


def simulate_command(args: argparse.Namespace, settings: Settings) -> int:
    from onhand.simulation import report
    from onhand.simulation.live.deployment import SpeedMismatchError
    from onhand.simulation.runner import Options, simulate

    # The simulated clients' every request is not news: only what goes wrong is.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = Options(args.scale, args.hours, args.seed, args.speed, args.url)
    print(
        f"Simulating {args.hours:g} h on the {args.scale} scale (seed {args.seed})...",
        file=sys.stderr,
    )
    try:
        outcome = simulate(options, lambda line: print(line, file=sys.stderr))
    except SpeedMismatchError as error:
        print(f"onhand simulate: {error}", file=sys.stderr)
        return 2
    report.show(
        outcome.figures,
        f"{args.scale} scale, {args.hours:g} h, seed {args.seed}: {outcome.orders:,} orders"
        f" ({outcome.orders / outcome.real_seconds:.1f} simulated orders per real second)",
    )
    if args.json:
        args.json.write_text(json.dumps(outcome.figures, indent=2) + "\n")
    return 0


def _hours(text: str) -> float:
    value = _number(text, "--hours")
    if not 0 < value <= 24:
        raise argparse.ArgumentTypeError("--hours must be more than 0 and at most 24")
    return value


def _speed(text: str) -> float:
    value = _number(text, "--speed")
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError("--speed must be from 1 to 100000")
    return value


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} takes a number, not {text!r}") from None
