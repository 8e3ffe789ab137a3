"""GraphiQL served whole by onhand: strawberry's page loads React and GraphiQL from a CDN,
which leaves a blank page on a machine without internet, where the embedded quick start is
meant to work. The same files ship in this package (static/, licenses in LICENSES.md)."""

from __future__ import annotations

from importlib.resources import files

from starlette.staticfiles import StaticFiles

PACKAGE = __name__
# The page's own address is /graphql: it names its files relative to it, as graphiql/<file>.
ASSETS_PATH = "/graphiql"
PAGE = (files(PACKAGE) / "page.html").read_text(encoding="utf-8")


def assets() -> StaticFiles:
    """The ASGI app serving the page's scripts and styles, mounted at ASSETS_PATH."""
    return StaticFiles(packages=[(PACKAGE, "static")])
