"""Idempotency keys: a replay returns the first result; a key reused for different input is
refused with IDEMPOTENCY_KEY_REUSED. Keys belong to the caller (the API token): two clients
that happen to pick the same key do not meet.

The key is claimed first thing in the change's transaction. A concurrent request with the same
key blocks on that row until the first commits (then it reads the stored result) or rolls back
(then it claims the key itself), so twenty simultaneous sends still make one change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    key: str
    operation: str
    request_hash: str


def fingerprint(value: Any) -> str:
    """A stable hash of an operation's input (without its idempotency key)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime):
            return obj.isoformat()
        if isinstance(obj, Enum):
            return obj.value
        if is_dataclass(obj) and not isinstance(obj, type):
            return asdict(obj)
        raise TypeError(f"cannot fingerprint {type(obj).__name__}")

    data = asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "idempotency_key"}
    encoded = json.dumps(data, default=default, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def claim_for(operation: str, key: str | None, request: Any) -> IdempotencyClaim | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise DomainError.of(
            ErrorCode.INVALID,
            f"idempotencyKey must be 1-{MAX_KEY_LENGTH} characters",
            "idempotencyKey",
        )
    return IdempotencyClaim(key, operation, fingerprint(request))


async def claim_key(
    conn: AsyncConnection, claim: IdempotencyClaim | None, actor: str
) -> dict[str, Any] | None:
    """Claim the key in this transaction. Returns the stored result when this request is a
    replay of one already committed, else None (the caller goes on and calls `remember`)."""
    if claim is None:
        return None
    inserted = await conn.execute(
        text(
            "INSERT INTO idempotency_keys (key, operation, request_hash, actor)"
            " VALUES (:key, :operation, :request_hash, :actor)"
            " ON CONFLICT (actor, key) DO NOTHING RETURNING key"
        ),
        {
            "key": claim.key,
            "operation": claim.operation,
            "request_hash": claim.request_hash,
            "actor": actor,
        },
    )
    if inserted.first() is not None:
        return None
    stored = (
        await conn.execute(
            text(
                "SELECT operation, request_hash, result FROM idempotency_keys"
                " WHERE actor = :actor AND key = :key"
            ),
            {"key": claim.key, "actor": actor},
        )
    ).first()
    if stored is None:  # expired and swept between the two statements: treat as new
        return await claim_key(conn, claim, actor)
    if stored.operation != claim.operation or stored.request_hash != claim.request_hash:
        raise DomainError.of(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            f"idempotencyKey {claim.key!r} was already used for a different request",
            "idempotencyKey",
        )
    return dict(stored.result)


async def remember(
    conn: AsyncConnection, claim: IdempotencyClaim | None, result: dict[str, Any]
) -> None:
    if claim is None:
        return
    # The only row with this key and no result yet that this transaction can see is the one
    # it claimed: claims that committed always carry their result, and others' uncommitted
    # claims are invisible.
    await conn.execute(
        text(
            "UPDATE idempotency_keys SET result = CAST(:result AS jsonb)"
            " WHERE key = :key AND result IS NULL"
        ),
        {"key": claim.key, "result": json.dumps(result)},
    )


async def forget_expired(conn: AsyncConnection, older_than_hours: float) -> int:
    result = await conn.execute(
        text(
            "DELETE FROM idempotency_keys"
            " WHERE created_at < now() - CAST(:hours AS double precision) * interval '1 hour'"
        ),
        {"hours": older_than_hours},
    )
    return result.rowcount or 0
