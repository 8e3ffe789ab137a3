"""/metrics stays small whatever operation names clients choose: names are labels only up to a
bound, the rest count as "other"."""

from __future__ import annotations

import logging

import httpx
import pytest
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


def failures_counted(metrics: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "onhand_authentication_failures_total":
                return float(sample.value)
    return 0.0


async def test_refused_tokens_are_counted_and_logged_without_what_was_sent(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    before = failures_counted((await http.get("/metrics")).text)
    with caplog.at_level(logging.INFO):
        for secret in ("oh_live_GUESSED-SECRET-1", "oh_live_GUESSED-SECRET-2"):
            refused = await http.post(
                "/graphql",
                json={"query": "{ viewer { name } }"},
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert refused.status_code == 401
        assert (
            await http.post("/graphql", json={"query": "{ viewer { name } }"})
        ).status_code == 401
    assert failures_counted((await http.get("/metrics")).text) == before + 3
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "unknown token" in logged
    assert "GUESSED-SECRET" not in logged
