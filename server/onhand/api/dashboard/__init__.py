"""The operations dashboard: one HTML page and its ES modules and stylesheet, shipped in this
package (static/), no build step and nothing from another host, so it works offline.

It is a client of the public API like any other: it asks /graphql over HTTP for queries and
mutations and over graphql-transport-ws for subscriptions, with the token the operator enters
(kept in the browser's sessionStorage, never in a URL). Open static/app.js first."""

from __future__ import annotations

from html import escape
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

PACKAGE = __name__
_PAGE = (files(PACKAGE) / "page.html").read_text(encoding="utf-8")
# Everything the page loads comes from this server; scripts only from files (no inline code),
# so an injected string can never run.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(path: str) -> str:
    """The page for a dashboard served at `path` (its assets are under path/assets)."""
    return _PAGE.replace("{{assets}}", escape(f"{path}/assets"))


def routes(path: str) -> list[BaseRoute]:
    """The page at `path` and its files under `path`/assets."""
    html = page(path)

    async def dashboard(request: Request) -> Response:
        return HTMLResponse(html, headers=_SECURITY_HEADERS)

    return [
        Route(path, dashboard, methods=["GET", "HEAD"]),
        Mount(f"{path}/assets", StaticFiles(packages=[(PACKAGE, "static")])),
    ]
