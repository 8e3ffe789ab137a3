"""How onhand's processes log: one setup for the command and for the processes it spawns.

JSON lines (one object per line: time, level, logger, message, request_id and the fields a
line adds, such as a request's operation and duration) where logs are collected; plain text
on a terminal. ONHAND_LOG_FORMAT=json|text chooses; `auto` picks text when stderr is a
terminal.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from onhand.config import Settings
from onhand.core import request_ids

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Every line written while a request is served carries its id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_ids.current.get()
        return True


def formatter(kind: str) -> logging.Formatter:
    if kind == "text":
        return logging.Formatter(TEXT_FORMAT)
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def log_format(settings: Settings) -> str:
    if settings.log_format != "auto":
        return settings.log_format
    return "text" if sys.stderr.isatty() else "json"


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format(settings)))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    # Alembic narrates every step at INFO; onhand says what matters itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))
