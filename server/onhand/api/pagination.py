"""Relay connections over keyset pages: `first`/`after`, bounded page size, totalCount on
demand."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.engine import RowMapping

from onhand.api.context import Info
from onhand.api.ids import MAX_ID
from onhand.core import pagination
from onhand.core.pagination import Listing

NodeType = TypeVar("NodeType")
_PREFIX = "cursor:"


def encode_cursor(key: Any) -> str:
    return base64.b64encode(f"{_PREFIX}{key}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        if not text.startswith(_PREFIX):
            raise ValueError
        key = int(text[len(_PREFIX) :])
        # Keys are bigint ids: anything beyond cannot be one, and must not reach the database.
        if abs(key) > MAX_ID:
            raise ValueError
        return key
    except (ValueError, UnicodeDecodeError) as error:
        raise GraphQLError(
            f"`after` is not a cursor from this list: {cursor!r}",
            extensions={"code": "BAD_USER_INPUT", "field": "after"},
        ) from error


def page_size(info: Info, first: int | None) -> int:
    settings = info.context.settings
    if first is None:
        return settings.default_page_size
    if not 1 <= first <= settings.max_page_size:
        raise GraphQLError(
            f"`first` must be between 1 and {settings.max_page_size} (got {first})",
            extensions={"code": "BAD_USER_INPUT", "field": "first"},
        )
    return first


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeType]):
    node: NodeType
    cursor: str


@strawberry.type
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]]
    page_info: PageInfo
    _listing: strawberry.Private[Listing]
    _info: strawberry.Private[Any]

    @strawberry.field
    def nodes(self) -> list[NodeType]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many items match, across all pages.")
    async def total_count(self) -> int:
        async with self._info.context.read_engine.connect() as conn:
            return await pagination.count(conn, self._listing)


async def paginate(
    info: Info,
    listing: Listing,
    to_node: Callable[[RowMapping], NodeType],
    first: int | None,
    after: str | None,
    connection: type[Connection[NodeType]],
) -> Connection[NodeType]:
    size = page_size(info, first)
    after_key = decode_cursor(after)
    async with info.context.read_engine.connect() as conn:
        page = await pagination.fetch_page(conn, listing, size, after_key)
    key = listing.key_name
    edges = [Edge(node=to_node(row), cursor=encode_cursor(row[key])) for row in page.rows]
    return connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _listing=listing,
        _info=info,
    )
