"""API tokens: random secrets shown once, stored only as SHA-256 hashes.

A token is 32 random bytes, so a fast hash is safe here (there is nothing to brute-force);
that keeps authentication to one indexed lookup, cached briefly in each process
(auth/authenticator.py). A token may expire, may be rotated (a new secret for the same name,
role and channel) and may be revoked; a rotation or a revocation tells every process at
commit (NOTIFY on CHANGES_CHANNEL) to forget what it cached about the token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement, Label

from onhand.auth.roles import Permission, Role, allows
from onhand.core.errors import DomainError, ErrorCode
from onhand.db.tables import api_tokens

PREFIX = "onh_"
# The PostgreSQL channel a token's id is sent on when a rotation or revocation commits.
CHANGES_CHANNEL = "onhand_tokens"
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
    # Bound to a source system: it records events only as that system.
    source_system: str | None = None

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)


@dataclass(frozen=True)
class IssuedToken:
    principal: Principal
    secret: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RotatedToken:
    issued: IssuedToken
    # Until when the replaced secret is still accepted (None: it stopped at once).
    previous_expires_at: datetime | None


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def _expiry(expires_in: timedelta | None) -> ColumnElement[datetime] | None:
    """The SQL for `expires_in` from now, by the database's clock (which every process
    shares, so no server's clock skew moves an expiry)."""
    return None if expires_in is None else func.now() + expires_in


async def create_token(
    conn: AsyncConnection,
    name: str,
    role: Role,
    channel_id: int | None = None,
    expires_in: timedelta | None = None,
    source_system: str | None = None,
) -> IssuedToken:
    name = name.strip()
    if source_system is not None and not allows(role, Permission.RECORD_EVENTS):
        raise DomainError.of(
            ErrorCode.INVALID,
            f"a {role} token records no events: only ADMIN and OPERATOR tokens are bound to a"
            " source system",
            "sourceSystem",
        )
    if source_system is not None and not 0 < len(source_system.strip()) <= 64:
        raise DomainError.of(
            ErrorCode.INVALID, "a source system code is 1-64 characters", "sourceSystem"
        )
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
    if expires_in is not None and expires_in <= timedelta(0):
        raise DomainError.of(ErrorCode.INVALID, "a token expires some time from now", "expiresIn")
    secret = _new_secret()
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    insert(api_tokens)
                    .values(
                        name=name,
                        role=str(role),
                        channel_id=channel_id,
                        source_system=source_system,
                        token_hash=hash_secret(secret),
                        token_prefix=secret[:10],
                        expires_at=_expiry(expires_in),
                    )
                    .returning(api_tokens.c.id, api_tokens.c.expires_at)
                )
            ).one()
    except IntegrityError as error:
        raise DomainError.of(
            ErrorCode.ALREADY_EXISTS, f"a token named {name!r} already exists", "name"
        ) from error
    principal = Principal(row.id, name, role, channel_id, source_system)
    return IssuedToken(principal, secret, row.expires_at)


async def rotate_token(
    conn: AsyncConnection,
    name: str,
    overlap: timedelta = timedelta(0),
    expires_in: timedelta | None = None,
) -> RotatedToken | None:
    """A new secret for the token `name` (None when no such token is active); the old one
    is still accepted for `overlap`, and never past the token's own expiry.

    The replaced secret lives in the same row (previous_token_hash, previous_expires_at)
    rather than in a table of secrets: a token stays one row, so its name, role, channel,
    revocation and listing stay as simple as before, and the lookup one indexed probe of
    one table. The cost is that at most two secrets are live at once: rotating again during
    an overlap ends the older secret at once, which is what a second rotation (after a leak,
    say) wants anyway."""
    if overlap < timedelta(0):
        raise DomainError.of(ErrorCode.INVALID, "an overlap is not negative", "overlap")
    if expires_in is not None and expires_in <= timedelta(0):
        raise DomainError.of(ErrorCode.INVALID, "a token expires some time from now", "expiresIn")
    current = (
        await conn.execute(
            select(api_tokens.c.id, api_tokens.c.expires_at, _expired())
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .with_for_update()
        )
    ).first()
    if current is None:
        return None
    if current.expired and expires_in is None:
        raise DomainError.of(
            ErrorCode.INVALID,
            f"the token {name!r} expired at {current.expires_at:%Y-%m-%d %H:%M:%S%z}: give it"
            " a new expiry (--expires-in) to rotate it",
            "expiresIn",
        )
    keep_old = overlap > timedelta(0)
    secret = _new_secret()
    row = (
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == current.id)
            .values(
                previous_token_hash=api_tokens.c.token_hash if keep_old else None,
                previous_token_prefix=api_tokens.c.token_prefix if keep_old else None,
                previous_expires_at=func.now() + overlap if keep_old else None,
                token_hash=hash_secret(secret),
                token_prefix=secret[:10],
                expires_at=_expiry(expires_in) if expires_in else api_tokens.c.expires_at,
            )
            .returning(
                api_tokens.c.id,
                api_tokens.c.name,
                api_tokens.c.role,
                api_tokens.c.channel_id,
                api_tokens.c.source_system,
                api_tokens.c.expires_at,
                # LEAST ignores NULLs: no previous secret, no end of it either.
                case(
                    (
                        api_tokens.c.previous_token_hash.is_not(None),
                        func.least(api_tokens.c.previous_expires_at, api_tokens.c.expires_at),
                    )
                ).label("previous_until"),
            )
        )
    ).one()
    # Processes that cached the old secret look it up again, and find its overlap.
    await _notify(conn, row.id)
    principal = Principal(row.id, row.name, Role(row.role), row.channel_id, row.source_system)
    return RotatedToken(IssuedToken(principal, secret, row.expires_at), row.previous_until)


async def revoke_token(conn: AsyncConnection, name: str) -> bool:
    token_id = (
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(api_tokens.c.id)
        )
    ).scalar()
    if token_id is None:
        return False
    await _notify(conn, token_id)
    return True


async def has_tokens(conn: AsyncConnection) -> bool:
    return (await conn.execute(select(api_tokens.c.id).limit(1))).first() is not None


def _expired() -> Label[bool]:
    return func.coalesce(api_tokens.c.expires_at <= func.now(), False).label("expired")


async def _notify(conn: AsyncConnection, token_id: int) -> None:
    """Sent when the transaction commits (and not at all if it rolls back): every process
    listening (auth/changes.py) then forgets the token's cached lookups."""
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": CHANGES_CHANNEL, "payload": str(token_id)},
    )
