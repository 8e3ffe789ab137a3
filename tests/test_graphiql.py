"""GraphiQL works without internet: its page names no other host, and onhand serves every
script and style it loads (the same bytes strawberry's page would fetch from a CDN)."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from onhand.auth.roles import Role
from onhand.config import Settings
from support.server import running_server

CONTENT_TYPES = {
    "script": ("text/javascript", "application/javascript"),
    "link": ("text/css",),
}


class Assets(HTMLParser):
    """Every address the page makes the browser load, with its integrity hash."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        address = attributes.get("src") or attributes.get("href")
        if address:
            self.found.append((tag, address, attributes.get("integrity")))


async def test_graphiql_loads_nothing_from_other_hosts(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    parser = Assets()
    parser.feed(page.text)
    loaded = [found for found in parser.found if not found[1].startswith("data:")]
    assert len(loaded) == 7, parser.found  # React, ReactDOM, js-cookie, GraphiQL, its explorer

    for tag, address, integrity in loaded:
        url = urljoin(str(page.url), address)
        assert urlsplit(url).netloc == urlsplit(str(page.url)).netloc, f"{address} is elsewhere"
        asset = await http.get(url)
        assert asset.status_code == 200, address
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[tag], address
        digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
        assert integrity == f"sha384-{digest}", f"{address} is not the file the page expects"


async def test_an_unknown_asset_is_404(http: httpx.AsyncClient) -> None:
    assert (await http.get("/graphiql/nothing.js")).status_code == 404


async def test_a_server_not_exposing_its_schema_refuses_introspection_and_serves_no_graphiql(
    settings: Settings, database_url: str, tokens: dict[Role, str]
) -> None:
    hidden = settings.model_copy(update={"expose_schema": False})
    headers = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}
    with running_server(hidden, database_url) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            page = await http.get("/graphql", headers={"Accept": "text/html"})
            introspection = await http.post(
                "/graphql", json={"query": "{ __schema { types { name } } }"}, headers=headers
            )
            typename = await http.post(
                "/graphql", json={"query": "{ __typename viewer { name } }"}, headers=headers
            )
    assert "graphiql" not in page.text.lower()
    refused = introspection.json()
    assert refused.get("data") is None
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert typename.json()["data"]["viewer"]["name"] == "test-admin"
