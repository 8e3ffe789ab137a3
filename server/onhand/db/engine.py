"""Database URLs and the async engine."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from onhand.config import Settings


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of any PostgreSQL URL (postgres://, postgresql://, ...)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_url(url: str) -> str:
    """The libpq form of the URL (for asyncpg itself, psql and broadcaster)."""
    parsed = make_url(async_url(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(url: str, settings: Settings | None = None) -> AsyncEngine:
    pool_size = settings.db_pool_size if settings else 5
    max_overflow = settings.db_max_overflow if settings else 5
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        connect_args={
            "server_settings": {
                "application_name": "onhand",
                # JIT compilation costs more than it saves on onhand's short statements.
                "jit": "off",
            },
        },
    )
