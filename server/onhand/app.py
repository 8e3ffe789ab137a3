"""The ASGI application: /graphql (HTTP and WebSocket), /healthz, /readyz, /metrics, and the
operations dashboard (/dashboard)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from onhand.api import dashboard, graphiql
from onhand.api.body_limit import BodyLimit
from onhand.api.imports.download import download_endpoint
from onhand.api.request_log import RequestLog
from onhand.api.schema import build_schema
from onhand.api.view import AuthenticatedEndpoint, GraphQLView
from onhand.api.ws.endpoint import WebSocketEndpoint
from onhand.auth.authenticator import Authenticator
from onhand.config import Settings
from onhand.db import migrate
from onhand.db.engine import create_engine
from onhand.services import Services
from onhand.workers.event_stream import event_stream
from onhand.workers.runner import background_workers
from onhand.workers.token_upkeep import token_upkeep
from onhand.workers.webhooks import webhook_workers

log = logging.getLogger(__name__)


@asynccontextmanager
async def running_imports(services: Services) -> AsyncIterator[None]:
    """Imports still running when the app stops are stopped cleanly (rolled back, their jobs
    marked FAILED)."""
    try:
        yield
    finally:
        await services.import_tasks.stop()


@asynccontextmanager
async def cost_buckets(services: Services) -> AsyncIterator[None]:
    """The query cost buckets' Redis connections are closed when the app stops."""
    try:
        yield
    finally:
        if "cost_buckets" in services.__dict__:
            await services.cost_buckets.close()


# Parts that run beside the API for the life of the app (pub/sub, background workers):
# each is entered, in order, when the app starts and left when it stops.
Component = Callable[[Services], AbstractAsyncContextManager[None]]
COMPONENTS: tuple[Component, ...] = (
    event_stream,
    webhook_workers,
    background_workers,
    running_imports,
    token_upkeep,
    cost_buckets,
)


def unavailable(stopped_loops: list[str], **reasons: str) -> Response:
    """Not ready, saying why: the database, the migrations, background loops not running."""
    body: dict[str, object] = {"status": "unavailable", **reasons}
    if stopped_loops:
        body["loopsNotRunning"] = stopped_loops
    return JSONResponse(body, 503)


def create_app(settings: Settings, database_url: str) -> Starlette:
    """The app for a migrated database at `database_url`."""
    engine = create_engine(database_url, settings)
    replica = settings.read_database_url
    services = Services(
        settings=settings,
        engine=engine,
        authenticator=Authenticator(engine, settings.token_cache_seconds),
        database_url=database_url,
        read_engine=create_engine(replica, settings) if replica else None,
    )
    schema = build_schema(settings)
    endpoint = AuthenticatedEndpoint(
        GraphQLView(schema, services), WebSocketEndpoint(schema, services), services
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for component in COMPONENTS:
                await stack.enter_async_context(component(services))
            # Everything built so far (the schema above all) lives as long as the process:
            # keep it out of the garbage collector's full passes, which otherwise stall every
            # request and subscriber for tens of milliseconds every few seconds under load.
            gc.collect()
            gc.freeze()
            # Collect the young generation after 50,000 allocations instead of 700: fanning
            # an event out to a thousand sockets allocates that many futures in a moment.
            gc.set_threshold(50_000, 20, 100)
            try:
                yield
            finally:
                await stack.aclose()
                await services.dispose()

    # A server on simulated time says so wherever an operator or a simulator looks.
    health: dict[str, object] = {"status": "ok"}
    if settings.simulation_speed != 1:
        health["simulationSpeed"] = settings.simulation_speed
        log.warning(
            "simulated time: schedules run %g times faster than the wall clock"
            " (ONHAND_SIMULATION_SPEED; for simulations only)",
            settings.simulation_speed,
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse(health)

    async def readyz(request: Request) -> Response:
        stopped = services.supervisor.not_running()
        try:
            # Both pools: a stale connection left by an outage fails here, which makes its
            # pool drop every connection it holds, not in a request.
            for pool in (engine, services.at_once_engine):
                async with pool.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            behind = await migrate.pending(engine)
        except Exception as error:  # any failure to reach the database means not ready
            return unavailable(stopped, database=str(error))
        if behind:
            return unavailable(stopped, migrations="pending")
        if stopped:
            return unavailable(stopped)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    middleware = [Middleware(RequestLog)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Apollo-Require-Preflight",
                    "X-Onhand-Source",
                    "X-Request-Id",
                ],
                expose_headers=["X-Request-Id"],
            )
        )
    middleware.append(
        Middleware(
            BodyLimit,
            request_bytes=settings.max_request_bytes,
            upload_bytes=settings.max_upload_bytes,
        )
    )
    dashboard_routes = dashboard.routes(settings.dashboard_path) if settings.dashboard else []
    app = Starlette(
        routes=[
            *dashboard_routes,
            Route("/graphql", endpoint, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", endpoint),
            Mount(graphiql.ASSETS_PATH, graphiql.assets()),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/exports/inventory.csv", download_endpoint(services)),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def app_from_environment() -> Starlette:
    """The app as a process of `onhand serve --workers N` makes it: everything from the
    environment the parent set (ONHAND_DATABASE_URL of a migrated database)."""
    from onhand.config import get_settings
    from onhand.logs import configure_logging

    settings = get_settings()
    configure_logging(settings)
    if not settings.database_url:
        raise RuntimeError("ONHAND_DATABASE_URL is not set")
    return create_app(settings, settings.database_url)
