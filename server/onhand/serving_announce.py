"""What `onhand serve` prints once it listens: the address, and how to get a token."""

from __future__ import annotations

from onhand.config import Settings
from onhand.db.engine import create_engine
from onhand.runtime import bootstrap_admin

CREATE_TOKEN = "onhand token create --role ADMIN --name NAME"


def dashboard_address(settings: Settings, address: str) -> str | None:
    """Where the operations dashboard is, for a server whose GraphQL address is `address`."""
    if not settings.dashboard:
        return None
    return address.removesuffix("/graphql") + settings.dashboard_path


async def announce(url: str, address: str, dashboard: str | None = None) -> None:
    """How to get in: the address (and the dashboard's), and the first ADMIN token if this
    database had none."""
    engine = create_engine(url)
    try:
        # Several servers may start on one new database: the first one makes the token.
        issued = await bootstrap_admin(engine)
    finally:
        await engine.dispose()
    print(f"onhand is listening: GraphiQL at {address}", flush=True)
    if dashboard:
        print(f"The operations dashboard is at {dashboard}", flush=True)
    if issued:
        print(
            "An ADMIN token was created for this new database. It is shown only now;"
            " send it as `Authorization: Bearer <token>`:\n\n"
            f"    {issued.secret}\n\n"
            f"More tokens: `{CREATE_TOKEN}`.",
            flush=True,
        )
    else:
        print(
            f"API tokens: `{CREATE_TOKEN}` creates one (its secret is shown once),"
            " `onhand token list` lists them.",
            flush=True,
        )
