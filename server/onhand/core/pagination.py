"""Keyset pagination: a filtered listing, paged by a unique key, counted on demand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Listing:
    """What to list: the filtered query and the unique column it is ordered and paged by."""

    query: Select[Any]
    key: ColumnElement[Any]
    descending: bool = False

    @property
    def key_name(self) -> str:
        """The key column's name in the listing's rows."""
        name = self.key.key
        assert name is not None, "a listing is keyed by a named column"
        return name


@dataclass(frozen=True)
class Page:
    rows: Sequence[RowMapping]
    has_next: bool
    has_previous: bool

    def key_of(self, row: RowMapping, listing: Listing) -> Any:
        return row[listing.key_name]


async def fetch_page(
    conn: AsyncConnection, listing: Listing, first: int, after: Any | None = None
) -> Page:
    query = listing.query
    if after is not None:
        query = query.where(listing.key < after if listing.descending else listing.key > after)
    order = listing.key.desc() if listing.descending else listing.key.asc()
    rows = (await conn.execute(query.order_by(order).limit(first + 1))).mappings().all()
    return Page(rows=rows[:first], has_next=len(rows) > first, has_previous=after is not None)


async def count(conn: AsyncConnection, listing: Listing) -> int:
    counted = select(func.count()).select_from(listing.query.order_by(None).subquery())
    return int((await conn.execute(counted)).scalar_one())
