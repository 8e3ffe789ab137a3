"""/metrics stays small whatever operation names clients choose: names are labels only up to a
bound, the rest count as "other"."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from onhand.api.extensions import MAX_OPERATION_NAMES
from support.client import Client

NAMES = MAX_OPERATION_NAMES + 300


def operation_names(metrics: str) -> set[str]:
    return {
        sample.labels["name"]
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "onhand_graphql_operations_total"
    }


async def test_client_chosen_operation_names_do_not_grow_the_metrics_without_bound(
    admin: Client, http: httpx.AsyncClient
) -> None:
    for n in range(NAMES):
        await admin(f"query Q{n}x{'y' * 40} {{ viewer {{ name }} }}")
    await admin("query " + "N" * 300 + " { viewer { name } }")  # no label is that long
    metrics = (await http.get("/metrics")).text
    names = operation_names(metrics)
    assert "other" in names
    assert len(names - {"other", "anonymous"}) <= MAX_OPERATION_NAMES
    assert "N" * 300 not in names
    assert len(metrics) < 400_000, len(metrics)
