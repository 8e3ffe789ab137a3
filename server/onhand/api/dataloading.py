"""One DataLoader per relation and request: every key asked for while a response is being
resolved is fetched in one query, never one per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.dataloader import DataLoader

K = TypeVar("K")
V = TypeVar("V")

Fetch = Callable[[AsyncConnection, list[K]], Awaitable[dict[K, V]]]


def by_key(engine: AsyncEngine, fetch: Fetch[K, V]) -> DataLoader[K, V | None]:
    """A loader answering each key with what `fetch` found for it (None: nothing)."""

    async def load(keys: list[K]) -> list[V | None]:
        async with engine.connect() as conn:
            found = await fetch(conn, keys)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)
