"""Waiting for a condition, with a deadline, instead of sleeping for luck."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def until(
    condition: Callable[[], object | Awaitable[object]],
    what: str,
    seconds: float = 30,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll `condition` (plain or async) until it is true; past the deadline, fail saying
    `what` was expected (and `explain()`, such as a server's log)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        detail = f"\n{explain()}" if explain else ""
        raise AssertionError(f"not within {seconds} s: {what}{detail}") from None
