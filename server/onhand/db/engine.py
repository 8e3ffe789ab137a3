"""Database URLs and the async engine."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from onhand.config import Settings

# For engines made without settings (commands, tests): Settings' own defaults.
CONNECT_TIMEOUT_SECONDS = Settings.model_fields["db_connect_timeout_seconds"].default
POOL_TIMEOUT_SECONDS = Settings.model_fields["db_pool_timeout_seconds"].default


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of any PostgreSQL URL (postgres://, postgresql://, ...)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """The libpq form of the URL (for asyncpg itself, psql and broadcaster)."""
    parsed = make_url(async_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(
    url: str, settings: Settings | None = None, *, generic_plans: bool = False
) -> AsyncEngine:
    """`generic_plans`: every prepared statement on its connections runs its generic plan,
    planned once per connection (db/plans.py says which statements want that)."""
    pool_size = settings.db_pool_size if settings else 5
    max_overflow = settings.db_max_overflow if settings else 5
    connect_timeout = settings.db_connect_timeout_seconds if settings else CONNECT_TIMEOUT_SECONDS
    pool_timeout = settings.db_pool_timeout_seconds if settings else POOL_TIMEOUT_SECONDS
    server_settings = {
        "application_name": "onhand",
        # JIT compilation costs more than it saves on onhand's short statements.
        "jit": "off",
    }
    if generic_plans:
        server_settings["plan_cache_mode"] = "force_generic_plan"
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_timeout=pool_timeout,
        connect_args={
            "timeout": connect_timeout,
            "server_settings": server_settings,
        },
    )
