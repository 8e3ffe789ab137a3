"""The id of the request being served, for every log line written while serving it."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

current: ContextVar[str | None] = ContextVar("onhand_request_id", default=None)

# A caller's X-Request-Id is kept when it is a plain token (a proxy's or a client's id);
# anything else (too long, spaces, control characters) is replaced, so logs stay one line.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def accept(given: str | None) -> str:
    """The caller's id when it is usable, else a new one."""
    if given and _ACCEPTED.fullmatch(given):
        return given
    return uuid.uuid4().hex
