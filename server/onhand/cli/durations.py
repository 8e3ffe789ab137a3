"""Durations on the command line: `30d`, `12h`, `90m`, `45s`, or parts together (`1d12h`)."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+)([smhd])")
_WHOLE = re.compile(r"(?:\d+[smhd])+")
# Beyond this a date no longer fits PostgreSQL's or Python's calendar comfortably; nobody
# means it (a token that should never expire is made without --expires-in).
LONGEST = timedelta(days=36_500)


def duration(text: str) -> timedelta:
    """An argparse `type`: its error becomes `argument --OPTION: ...`, exit code 2."""
    compact = text.strip().lower()
    if not _WHOLE.fullmatch(compact):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a number and a unit (s, m, h or d), as 30d, 12h,"
            " 90m or 1d12h"
        )
    seconds = sum(int(number) * UNITS[unit] for number, unit in _PART.findall(compact))
    if seconds > LONGEST.total_seconds():
        raise argparse.ArgumentTypeError(f"{text!r} is longer than {LONGEST.days} days")
    return timedelta(seconds=seconds)


def positive_duration(text: str) -> timedelta:
    found = duration(text)
    if found <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is no time at all: give more than 0")
    return found
