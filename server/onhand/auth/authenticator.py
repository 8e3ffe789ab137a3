"""Resolving bearer secrets to principals: one indexed lookup per secret, cached in the
process for `ttl` seconds, so a request costs the database nothing once its token is known.

What the cache may not hide:
- a revocation or rotation: every process is told at commit (auth/changes.py calls
  `forget`), so the cache's ttl only bounds how stale an entry gets if that news is lost;
- an expiry (the token's own, or the end of a rotation's overlap): each entry holds the
  moment its secret stops, so it stops then whatever the cache says.

When a token was last used is kept here too, and written for all tokens at once now and
then (`record_uses`, run by workers/token_upkeep.py): a request never writes for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, case, extract, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import BigInteger, DateTime

from onhand.auth.roles import Role
from onhand.auth.tokens import Principal, hash_secret
from onhand.db.tables import api_tokens

log = logging.getLogger(__name__)
# Unknown secrets are cached too (so a client with a wrong token cannot make every request a
# lookup); past this many entries the cache starts again, so guessing cannot grow it forever.
MAX_CACHED = 10_000

_RECORD_USES = text(
    """
    UPDATE api_tokens AS t SET last_used_at = GREATEST(t.last_used_at, u.used)
    FROM unnest(CAST(:ids AS bigint[]), CAST(:times AS timestamptz[])) AS u(id, used)
    WHERE t.id = u.id
    """
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger())),
    bindparam("times", type_=ARRAY(DateTime(timezone=True))),
)


@dataclass(frozen=True, slots=True)
class _Entry:
    fresh_until: float  # time.monotonic(): look the secret up again after this
    principal: Principal | None
    usable_until: float  # time.monotonic(): the secret stops working then (inf: never)


class Authenticator:
    def __init__(self, engine: AsyncEngine, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[bytes, _Entry] = {}
        # Bumped by every forget: a lookup that was under way meanwhile may have read the
        # token as it was before, so its answer is used once but not cached.
        self._generation = 0
        self._forgotten: list[Callable[[], None]] = []
        # Token id -> when (time.time()) it was last used, since the last record_uses.
        self._used: dict[int, float] = {}

    async def authenticate(self, authorization: str | None) -> Principal | None:
        secret = _bearer(authorization)
        if secret is None:
            return None
        digest = hash_secret(secret)
        now = time.monotonic()
        entry = self._cache.get(digest)
        if entry is None or entry.fresh_until <= now:
            generation = self._generation
            entry = await self._lookup(digest, now)
            if generation == self._generation:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[digest] = entry
        principal = entry.principal
        if principal is None or entry.usable_until <= now:
            return None
        self._used[principal.token_id] = time.time()
        return principal

    def forget(self, token_id: int) -> None:
        """Drop what is cached about the token: it was revoked or rotated."""
        for digest, entry in list(self._cache.items()):
            if entry.principal is not None and entry.principal.token_id == token_id:
                del self._cache[digest]
        self._changed()

    def forget_all(self) -> None:
        """Drop the whole cache: news of revocations may have been missed."""
        self._cache.clear()
        self._changed()

    def on_forget(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever tokens are forgotten (open WebSockets check theirs)."""
        self._forgotten.append(callback)

    def _changed(self) -> None:
        self._generation += 1
        for callback in self._forgotten:
            callback()

    async def record_uses(self) -> int:
        """Write when each token used since the last call was last used, in one statement;
        returns how many tokens that was."""
        used, self._used = self._used, {}
        if not used:
            return 0
        times = [datetime.fromtimestamp(moment, UTC) for moment in used.values()]
        try:
            async with self._engine.begin() as conn:
                await conn.execute(_RECORD_USES, {"ids": list(used), "times": times})
        except BaseException:
            # Kept for the next attempt (newer uses meanwhile win).
            for token_id, moment in used.items():
                self._used[token_id] = max(moment, self._used.get(token_id, moment))
            raise
        return len(used)

    async def _lookup(self, digest: bytes, now: float) -> _Entry:
        t = api_tokens.c
        current = t.token_hash == digest
        # The secret's end: the token's expiry and, for a rotated-away secret, its overlap's
        # (LEAST ignores NULLs), as seconds from now by the database's clock.
        ends = func.least(t.expires_at, case((current, None), else_=t.previous_expires_at))
        remaining = extract("epoch", ends - func.now())
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        t.id,
                        t.name,
                        t.role,
                        t.channel_id,
                        t.source_system,
                        remaining.label("remaining"),
                    )
                    .where(current | (t.previous_token_hash == digest))
                    .where(t.revoked_at.is_(None))
                )
            ).first()
        if row is None:
            return _Entry(now + self._ttl, None, math.inf)
        usable_until = math.inf if row.remaining is None else now + float(row.remaining)
        principal = Principal(row.id, row.name, Role(row.role), row.channel_id, row.source_system)
        return _Entry(now + self._ttl, principal, usable_until)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()
