"""Reading counters from a server's /metrics text."""

from __future__ import annotations

import re


def sample(metrics: str, name: str, **labels: str) -> float:
    """One sample of a metric, by its labels in the order they are declared (0 when it has
    none yet)."""
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
    selector = f"{{{inner}}}" if labels else ""
    found = re.search(rf"^{name}{selector} ([0-9.e+]+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def write_batches(metrics: str, strategy: str, way: str) -> float:
    """onhand_write_batches_total for one strategy and way (0 before the first batch)."""
    found = re.search(
        rf'onhand_write_batches_total{{strategy="{strategy}",way="{way}"}} ([0-9.e+]+)', metrics
    )
    return float(found.group(1)) if found else 0.0
