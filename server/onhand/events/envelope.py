"""A published event as subscribers, feeds and webhooks see it: its outbox row plus the
sequence the relay gave it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Published:
    sequence: int
    topic: str
    payload: dict[str, Any]
    product_id: int | None
    warehouse_id: int | None
    channel_id: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Published:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(
            sequence=m["sequence"],
            topic=m["topic"],
            payload=m["payload"],
            product_id=m["product_id"],
            warehouse_id=m["warehouse_id"],
            channel_id=m["channel_id"],
            created_at=m["created_at"],
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Published:
        return cls(
            sequence=data["s"],
            topic=data["t"],
            payload=data["p"],
            product_id=data["pr"],
            warehouse_id=data["w"],
            channel_id=data["c"],
            created_at=datetime.fromisoformat(data["at"]),
        )


# What the relay broadcasts: small batches carry their events; large ones only their range,
# which each process then reads from the outbox (PostgreSQL's NOTIFY carries < 8000 bytes).
MAX_INLINE_BYTES = 7000


def _number(value: int | None) -> str:
    return "null" if value is None else str(value)


def _event_json(row: Any) -> str:
    """One numbered outbox row as the broadcast carries it. The payload is the stored json
    text itself (PostgreSQL's json type keeps only valid JSON): the relay neither decodes nor
    re-encodes it, which was most of its CPU under a write load."""
    return (
        f'{{"s":{row.sequence},"t":{json.dumps(row.topic)},"p":{row.payload_text},'
        f'"pr":{_number(row.product_id)},"w":{_number(row.warehouse_id)},'
        f'"c":{_number(row.channel_id)},"at":"{row.created_at.isoformat()}"}}'
    )


def encode_rows(rows: Sequence[Any]) -> str:
    """The message for numbered outbox rows (in sequence order; each with sequence, topic,
    payload_text, product_id, warehouse_id, channel_id, created_at): their events, or their
    range once the events would pass MAX_INLINE_BYTES (found before encoding them all)."""
    parts: list[str] = []
    size = len('{"events":[]}') - 1  # no comma before the first event
    for row in rows:
        part = _event_json(row)
        size += len(part) + 1
        if size > MAX_INLINE_BYTES:
            return json.dumps({"range": [rows[0].sequence, rows[-1].sequence]})
        parts.append(part)
    return '{"events":[' + ",".join(parts) + "]}"


def decode_batch(message: str) -> tuple[list[Published], tuple[int, int] | None]:
    data = json.loads(message)
    if "range" in data:
        first, last = data["range"]
        return [], (int(first), int(last))
    return [Published.from_json(e) for e in data["events"]], None
