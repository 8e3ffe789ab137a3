"""A published event as subscribers, feeds and webhooks see it: its outbox row plus the
sequence the relay gave it."""

from __future__ import annotations

import json
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

    def to_json(self) -> dict[str, Any]:
        return {
            "s": self.sequence,
            "t": self.topic,
            "p": self.payload,
            "pr": self.product_id,
            "w": self.warehouse_id,
            "c": self.channel_id,
            "at": self.created_at.isoformat(),
        }

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


def encode_batch(events: list[Published]) -> str:
    inline = json.dumps({"events": [e.to_json() for e in events]}, default=str)
    if len(inline) <= MAX_INLINE_BYTES:
        return inline
    return json.dumps({"range": [events[0].sequence, events[-1].sequence]})


def decode_batch(message: str) -> tuple[list[Published], tuple[int, int] | None]:
    data = json.loads(message)
    if "range" in data:
        first, last = data["range"]
        return [], (int(first), int(last))
    return [Published.from_json(e) for e in data["events"]], None
