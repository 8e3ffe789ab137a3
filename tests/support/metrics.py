"""Reading counters from a server's /metrics text."""

from __future__ import annotations

import re


def write_batches(metrics: str, strategy: str, way: str) -> float:
    """onhand_write_batches_total for one strategy and way (0 before the first batch)."""
    found = re.search(
        rf'onhand_write_batches_total{{strategy="{strategy}",way="{way}"}} ([0-9.e+]+)', metrics
    )
    return float(found.group(1)) if found else 0.0
