"""A GraphQL-over-HTTP client for tests, one per token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"


def operation(name: str) -> str:
    """A document from graphql/operations/ (the ones the README shows)."""
    return (OPERATIONS / f"{name}.graphql").read_text()


class GraphQLError(AssertionError):
    pass


class Client:
    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str | None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.http = http
        self.token = token
        self.extra_headers = extra_headers or {}

    @property
    def headers(self) -> dict[str, str]:
        authorization = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**authorization, **self.extra_headers}

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        # Escaped to ASCII as JavaScript's JSON.stringify does, so that a test can send any
        # string a browser could, a lone surrogate included.
        body = json.dumps({"query": query, "variables": variables or {}})
        headers = {**self.headers, "content-type": "application/json"}
        return await self.http.post("/graphql", content=body, headers=headers)

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body, errors and all."""
        response = await self.post(query, variables)
        body: dict[str, Any] = response.json()
        return body

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """The `data` of a response that must have no GraphQL errors."""
        body = await self.raw(query, variables)
        if body.get("errors"):
            raise GraphQLError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    async def mutate(self, name: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """A mutation's payload, which must report no UserErrors."""
        payload: dict[str, Any] = (await self(query, variables))[name]
        if payload.get("errors"):
            raise GraphQLError(f"{name} errors: {payload['errors']}")
        return payload


@asynccontextmanager
async def clients(base_url: str, token: str, count: int) -> AsyncIterator[list[Client]]:
    """`count` independent HTTP clients, each with its own connection."""
    async with AsyncExitStack() as stack:
        made = []
        for _ in range(count):
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, timeout=120)
            )
            made.append(Client(http, token))
        yield made


async def payload_of(client: Client, field: str, query: str, variables: dict[str, Any]) -> Any:
    """The mutation's payload; anything but a 200 without GraphQL errors fails the test."""
    response = await client.post(query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"][field]


# A client bound to the channel of the given code (the `connector` fixture).
Connector = Callable[[str], Awaitable["Client"]]
