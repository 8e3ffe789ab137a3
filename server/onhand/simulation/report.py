"""The two runs side by side, in the case study's terms, as a table and as JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from onhand.simulation.world import CHANNELS

ROWS = [
    ("orders", "Orders placed", "{:,}"),
    ("oversold_orders", "Oversold orders (cancelled)", "{:,}"),
    ("cancellation_rate", "Cancellation rate", "percent"),
    ("accuracy", "Inventory accuracy", "percent"),
    ("sync_latency_p50_ms", "Sync latency p50", "duration"),
    ("sync_latency_p99_ms", "Sync latency p99", "duration"),
    ("lost_events", "Events lost", "{:,}"),
    ("duplicate_events_applied", "Duplicates applied", "{:,}"),
]

SHORT = {
    "Orders placed": "Orders",
    "Oversold orders (cancelled)": "Oversold",
    "Cancellation rate": "Cancelled",
    "Inventory accuracy": "Accuracy",
    "Sync latency p50": "Sync p50",
    "Sync latency p99": "Sync p99",
}


def show(figures: dict[str, dict[str, Any]], title: str, console: Console | None = None) -> None:
    console = console or Console(width=max(Console().width, 100))
    legacy, onhand = figures["legacy"], figures["onhand"]
    summary = Table(title=title)
    summary.add_column("")
    summary.add_column("Legacy (4-hourly CSV)", justify="right")
    summary.add_column("onhand", justify="right")
    for key, label, style in ROWS:
        summary.add_row(label, _format(legacy[key], style), _format(onhand[key], style))
    console.print(summary)
    channels = Table(title="Per channel")
    channels.add_column("Channel")
    channels.add_column("Run")
    for _, label, _ in ROWS[:6]:
        channels.add_column(SHORT.get(label, label), justify="right")
    for code in CHANNELS:
        for run, name in ((legacy, "legacy"), (onhand, "onhand")):
            figures = run["channels"][code]
            channels.add_row(
                code if name == "legacy" else "",
                name,
                *(_format(figures[key], style) for key, _, style in ROWS[:6]),
                end_section=name == "onhand",
            )
    console.print(channels)


def _format(value: Any, style: str) -> str:
    if value is None:
        return "-"
    if style == "percent":
        return f"{value * 100:.2f}%"
    if style == "duration":
        if value < 1000:
            return f"{value:.0f} ms"
        if value < 120_000:
            return f"{value / 1000:.1f} s"
        if value < 7_200_000:
            return f"{value / 60_000:.0f} min"
        return f"{value / 3_600_000:.1f} h"
    return style.format(value)
