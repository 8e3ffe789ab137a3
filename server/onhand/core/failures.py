"""Runs of failures of something retried (a background loop, an import's heartbeat): logged
once when the run starts, with the error, and once when it ends, never in between, with a
wait before each retry that doubles up to MAX_BACKOFF_SECONDS."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger("onhand.workers.supervisor")  # where operators look for these lines

FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 10.0


@dataclass(eq=False)
class Failures:
    """A run of failures of something that is retried (`what`: "background loop hub"):
    logged when it starts, with the error, and when it ends, not in between."""

    what: str
    count: int = 0
    since: float = field(default=0.0)

    def failed(self, error: BaseException) -> float:
        """Note a failure; returns how long to wait before trying again."""
        self.count += 1
        delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (self.count - 1))
        if self.count == 1:
            self.since = time.monotonic()
            log.error(
                "%s failed (%s: %s); retrying, and not logging again until it recovers",
                self.what,
                type(error).__name__,
                str(error).partition("\n")[0],
                exc_info=error,
            )
        else:
            log.debug("%s failed again (%s)", self.what, error)
        return delay

    def recovered(self) -> None:
        if not self.count:
            return
        log.warning(
            "%s recovered after %d failures in %.1f s",
            self.what,
            self.count,
            time.monotonic() - self.since,
        )
        self.count = 0
