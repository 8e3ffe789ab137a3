"""One simulation: the world and its stream, the legacy model, the onhand run, the figures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from onhand.simulation.legacy import LegacyRun
from onhand.simulation.live.deployment import (
    Deployment,
    SpeedMismatchError,
    own_server,
    running,
    server_speed,
)
from onhand.simulation.live.run import LiveRun
from onhand.simulation.stream import build_stream
from onhand.simulation.world import SCALES, build_world


@dataclass(frozen=True)
class Options:
    scale: str = "small"
    hours: float = 24
    seed: int = 0
    speed: float | None = None  # None: the scale's own
    url: str | None = None


@dataclass
class Outcome:
    figures: dict[str, dict[str, Any]]
    stream_fingerprint: str
    real_seconds: float  # the onhand run, set-up included
    orders: int  # orders in the stream (abandoned carts left out)


def simulate(options: Options, say: Callable[[str], None] = print) -> Outcome:
    scale = SCALES[options.scale]
    speed = _speed(options, scale.speed)
    world = build_world(scale, options.seed)
    stream = build_stream(world, options.hours)
    legacy = LegacyRun(world, stream).run()
    started = time.monotonic()
    with _deployment(options, speed) as deployment:
        say(f"onhand is serving at {deployment.url} ({time.monotonic() - started:.1f} s)")
        onhand = asyncio.run(LiveRun(deployment, world, stream, speed, say).run())
    return Outcome(
        {"legacy": legacy.figures(), "onhand": onhand.figures()},
        stream.fingerprint(),
        time.monotonic() - started,
        sum(not order.abandoned for order in stream.orders),
    )


def _speed(options: Options, default: float) -> float:
    """The simulation's speed: a server of its own runs at the one asked for; a server at
    --url at its own, which --speed must then match."""
    if not options.url:
        return options.speed or default
    speed = server_speed(options.url)
    if options.speed is not None and options.speed != speed:
        raise SpeedMismatchError(
            f"--speed {options.speed:g}: the server at {options.url} runs at speed {speed:g};"
            f" start it with ONHAND_SIMULATION_SPEED={options.speed:g} or leave --speed out"
        )
    return speed


@contextlib.contextmanager
def _deployment(options: Options, speed: float) -> Iterator[Deployment]:
    if options.url:
        yield running(options.url)
    else:
        with own_server(speed) as deployment:
            yield deployment
