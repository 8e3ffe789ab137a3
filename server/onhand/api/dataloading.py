"""One DataLoader per relation and request: every key asked for while a response is being
resolved is fetched in one query, never one per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.dataloader import DataLoader

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

Fetch = Callable[[AsyncConnection, list[K]], Awaitable[dict[K, V]]]


def by_key(engine: AsyncEngine, fetch: Fetch[K, V]) -> DataLoader[K, V | None]:
    """A loader answering each key with what `fetch` found for it (None: nothing)."""

    async def load(keys: list[K]) -> list[V | None]:
        async with engine.connect() as conn:
            found = await fetch(conn, keys)
        return [found.get(key) for key in keys]

    return DataLoader(load_fn=load)


def for_every_key(engine: AsyncEngine, fetch: Fetch[K, V]) -> DataLoader[K, V]:
    """A loader for a `fetch` that answers every key it is given (zeros, say, for a product
    with no stock)."""

    async def load(keys: list[K]) -> list[V]:
        async with engine.connect() as conn:
            found = await fetch(conn, keys)
        return [found[key] for key in keys]

    return DataLoader(load_fn=load)


class DomainLoaders(Generic[D]):
    """A domain's loaders as an attribute of the request's loaders, made on first use (most
    requests need few domains): `alerts = DomainLoaders(AlertLoaders)`."""

    def __init__(self, make: Callable[[AsyncEngine], D]) -> None:
        self.make = make
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, holder: None, owner: type) -> DomainLoaders[D]: ...

    @overload
    def __get__(self, holder: Any, owner: type) -> D: ...

    def __get__(self, holder: Any, owner: type) -> DomainLoaders[D] | D:
        if holder is None:
            return self
        made = self.make(holder.engine)
        holder.__dict__[self.name] = made  # later reads find it there, not here
        return made
