"""The media types /graphql answers in, chosen from the request's Accept header as the
GraphQL-over-HTTP spec says.

- application/graphql-response+json, when the client prefers it (or names it, among others
  it likes as much): its status code tells whether the request was refused (4xx, the body
  having no `data`) or run (200).
- application/json otherwise: with no Accept header, `*/*`, `application/json`, or nothing
  /graphql can answer in (the spec lets a server ignore such an Accept and use JSON). Legacy
  clients read the body, not the status: a document that fails is still a 200.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Scope

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# The newer type names its charset; application/json stays as legacy clients have always had it.
CONTENT_TYPES = {GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8", JSON: JSON}


def negotiate(accept: str | None) -> str:
    """GRAPHQL_RESPONSE_JSON or JSON, whichever `accept` ranks higher. On a tie the newer
    type wins only when named outright: a wildcard (`*/*`, `application/*`) gets JSON, which
    every client reads."""
    if not accept:
        return JSON
    ranges = _media_ranges(accept)
    new_q, new_exact = _quality(GRAPHQL_RESPONSE_JSON, ranges)
    json_q, _ = _quality(JSON, ranges)
    if new_q > json_q or (new_q == json_q and new_q > 0 and new_exact):
        return GRAPHQL_RESPONSE_JSON
    return JSON


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # a weight that is no number accepts nothing
        if media_range:
            ranges.append((media_range.lower(), quality))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, bool]:
    """The weight the most specific matching range gives `media_type` (HTTP's rule), and
    whether that range names it outright."""
    kind = media_type.split("/")[0]
    specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}
    matches = [(specificity[name], weight) for name, weight in ranges if name in specificity]
    if not matches:
        return 0.0, False
    rank, weight = max(matches)
    return weight, rank == 2


def for_scope(scope: Scope) -> str:
    return negotiate(Headers(scope=scope).get("accept"))


def error_response(
    scope: Scope, body: Any, status_code: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A GraphQL response refusing the request before any GraphQL ran (no `data`), in the
    media type the client asked for."""
    return JSONResponse(
        body, status_code, headers=headers, media_type=CONTENT_TYPES[for_scope(scope)]
    )
