"""What `onhand token list` shows of each token: never a secret, only its first characters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.db.tables import api_tokens


@dataclass(frozen=True)
class TokenSummary:
    name: str
    role: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    expired: bool
    # The secret a rotation replaced, while it is still accepted.
    previous_prefix: str | None
    previous_until: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired else "active"


async def list_tokens(conn: AsyncConnection) -> list[TokenSummary]:
    t = api_tokens.c
    # Judged by the database's clock, as authentication is.
    # LEAST ignores NULLs: without a previous secret there is no end of it either.
    previous_until = case(
        (t.previous_token_hash.is_not(None), func.least(t.previous_expires_at, t.expires_at))
    )
    previous_live = previous_until > func.now()
    rows = await conn.execute(
        select(
            t.name,
            t.role,
            t.token_prefix,
            t.created_at,
            t.expires_at,
            t.last_used_at,
            t.revoked_at,
            func.coalesce(t.expires_at <= func.now(), False).label("expired"),
            func.coalesce(previous_live, False).label("previous_live"),
            t.previous_token_prefix,
            previous_until.label("previous_until"),
        ).order_by(t.id)
    )
    return [
        TokenSummary(
            name=row.name,
            role=row.role,
            prefix=row.token_prefix,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            expired=row.expired,
            previous_prefix=row.previous_token_prefix if row.previous_live else None,
            previous_until=row.previous_until if row.previous_live else None,
        )
        for row in rows
    ]
