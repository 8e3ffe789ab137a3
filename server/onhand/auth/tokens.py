"""API tokens: random secrets shown once, stored only as SHA-256 hashes.

A token is 32 random bytes, so a fast hash is safe here (there is nothing to brute-force);
that keeps authentication to one indexed lookup, cached briefly in the process.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onhand.auth.roles import Permission, Role, allows
from onhand.core.errors import DomainError, ErrorCode
from onhand.db.tables import api_tokens

PREFIX = "onh_"
# Roles whose tokens may be bound to one channel (a CONNECTOR must be).
CHANNEL_BOUND_ROLES = frozenset({Role.CONNECTOR, Role.STOREFRONT})
# What a request without a valid token is told, wherever the API refuses it.
HOW_TO_AUTHENTICATE = (
    "send an API token as `Authorization: Bearer <token>`; an admin creates one with"
    " `onhand token create --role ADMIN --name NAME`"
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name is the actor recorded on every ledger row."""

    token_id: int
    name: str
    role: Role
    channel_id: int | None = None

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)


@dataclass(frozen=True)
class IssuedToken:
    principal: Principal
    secret: str


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_token(
    conn: AsyncConnection, name: str, role: Role, channel_id: int | None = None
) -> IssuedToken:
    name = name.strip()
    if not name or len(name) > 100:
        raise DomainError.of(ErrorCode.INVALID, "a token name is 1-100 characters", "name")
    if role == Role.CONNECTOR and channel_id is None:
        raise DomainError.of(
            ErrorCode.INVALID, "a CONNECTOR token is bound to exactly one channel", "channel"
        )
    if channel_id is not None and role not in CHANNEL_BOUND_ROLES:
        raise DomainError.of(
            ErrorCode.INVALID,
            f"only CONNECTOR and STOREFRONT tokens are bound to a channel, not {role}",
            "channel",
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    try:
        async with conn.begin_nested():
            token_id = (
                await conn.execute(
                    insert(api_tokens)
                    .values(
                        name=name,
                        role=str(role),
                        channel_id=channel_id,
                        token_hash=_hash(secret),
                        token_prefix=secret[:10],
                    )
                    .returning(api_tokens.c.id)
                )
            ).scalar_one()
    except IntegrityError as error:
        raise DomainError.of(
            ErrorCode.ALREADY_EXISTS, f"a token named {name!r} already exists", "name"
        ) from error
    return IssuedToken(Principal(token_id, name, role, channel_id), secret)


async def revoke_token(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(
        update(api_tokens)
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return bool(result.rowcount)


async def has_tokens(conn: AsyncConnection) -> bool:
    return (await conn.execute(select(api_tokens.c.id).limit(1))).first() is not None


class Authenticator:
    """Resolves bearer secrets to principals, caching each for `ttl` seconds."""

    def __init__(self, engine: AsyncEngine, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def authenticate(self, authorization: str | None) -> Principal | None:
        secret = _bearer(authorization)
        if secret is None:
            return None
        digest = _hash(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await self._lookup(digest)
        if len(self._cache) > 10_000:  # bounded: unknown secrets must not grow it forever
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, principal)
        return principal

    async def _lookup(self, digest: bytes) -> Principal | None:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None))
                    .values(last_used_at=func.now())
                    .returning(
                        api_tokens.c.id,
                        api_tokens.c.name,
                        api_tokens.c.role,
                        api_tokens.c.channel_id,
                    )
                )
            ).first()
        if row is None:
            return None
        return Principal(row.id, row.name, Role(row.role), row.channel_id)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()
