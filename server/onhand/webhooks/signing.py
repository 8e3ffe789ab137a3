"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the webhook's secret.

A receiver recomputes it from the X-Onhand-Timestamp header and the raw body, compares it in
constant time with X-Onhand-Signature ("sha256=<hex>"), and refuses old timestamps to stop
replays.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Onhand-Signature"
TIMESTAMP_HEADER = "X-Onhand-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
