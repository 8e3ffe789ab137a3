"""Turning the hub's feed into a subscription's stream, with filters resolved once."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from graphql import GraphQLError

from onhand.api.context import Info
from onhand.events.envelope import Published
from onhand.events.hub import CursorExpiredError, SubscriberTooSlowError


@dataclass(frozen=True)
class KeyFilter:
    """Which products and warehouses a subscriber wants (empty: all)."""

    products: frozenset[int] = frozenset()
    warehouses: frozenset[int] = frozenset()

    def accepts(self, event: Published) -> bool:
        if self.products and event.product_id not in self.products:
            return False
        return not self.warehouses or event.warehouse_id in self.warehouses


async def stream(
    info: Info,
    topics: tuple[str, ...],
    accepts: Callable[[Published], bool],
    after: int | None,
) -> AsyncIterator[Published]:
    """The events of `topics` the subscriber accepts: replayed after `after`, then live."""
    batches = stream_batches(info, topics, accepts, after)
    try:
        async for batch in batches:
            for event in batch:
                # Each event is resolved with fresh loaders: a subscription lives for hours.
                info.context.reset_loaders()
                yield event
    finally:
        await batches.aclose()


async def stream_batches(
    info: Info,
    topics: tuple[str, ...],
    accepts: Callable[[Published], bool],
    after: int | None,
) -> AsyncGenerator[list[Published], None]:
    """`stream` a batch at a time: every event waiting when the subscriber asks again."""
    hub = info.context.services.hub
    if hub is None:
        raise GraphQLError("live events are not running", extensions={"code": "UNAVAILABLE"})
    wanted = set(topics)

    def matches(event: Published) -> bool:
        return event.topic in wanted and accepts(event)

    feed = hub.feed_batches(matches, after=after, topics=topics)
    info.context.listening()
    try:
        async for batch in feed:
            yield batch
    except SubscriberTooSlowError as error:
        raise GraphQLError(str(error), extensions={"code": "SUBSCRIBER_TOO_SLOW"}) from error
    except CursorExpiredError as error:
        raise GraphQLError(str(error), extensions={"code": "CURSOR_EXPIRED"}) from error
    finally:
        await feed.aclose()
