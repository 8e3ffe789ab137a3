"""One structured log line per request, with the request id the caller gave (or a new one)
returned in the response; coded errors log no traceback; secrets never appear."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from onhand.auth.roles import Role
from onhand.config import Settings
from onhand.core import request_ids
from onhand.logs import RequestIdFilter, formatter
from support.processes import Served, onhand_process

QUERY = "query WhoAmI { viewer { name role } }"
BAD_ADJUST = """
mutation AdjustMissing {
  adjustInventory(input: {sku: "NO-SUCH-SKU", warehouseCode: "NOWHERE", adjustment: 1,
                          reason: "RECEIPT"}) { errors { code } }
}"""


@pytest.fixture
def served(database_url: str) -> Iterator[Served]:
    with onhand_process(
        database_url,
        ONHAND_LOG_LEVEL="INFO",
        ONHAND_LOG_FORMAT="json",
        ONHAND_RUN_WORKERS_IN_SERVER="false",
    ) as process:
        yield process


def request_lines(served: Served, request_id: str) -> list[dict[str, Any]]:
    """The JSON lines logged for the request, once its request line is written."""
    deadline = time.monotonic() + 10
    while True:
        found = []
        for line in served.output.text.splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("request_id") == request_id:
                    found.append(entry)
        if any(e["logger"] == "onhand.request" for e in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def post(served: Served, token: str, query: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def test_a_request_logs_one_line_with_its_id_operation_and_token(
    served: Served, tokens: dict[Role, str]
) -> None:
    response = post(served, tokens[Role.STOREFRONT], QUERY, **{"X-Request-Id": "shop-42.a"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "shop-42.a"

    [line] = request_lines(served, "shop-42.a")
    assert line["logger"] == "onhand.request"
    assert line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/graphql", 200)
    assert (line["operation_type"], line["operation"]) == ("query", "WhoAmI")
    assert (line["token"], line["role"]) == ("test-storefront", "STOREFRONT")
    assert line["outcome"] == "ok"
    assert isinstance(line["duration_ms"], float)
    assert "codes" not in line
    assert tokens[Role.STOREFRONT] not in served.output.text


def test_a_coded_error_is_logged_with_its_code_and_no_traceback(
    served: Served, tokens: dict[Role, str]
) -> None:
    response = post(served, tokens[Role.ADMIN], BAD_ADJUST)
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # none given: a new one

    [line] = request_lines(served, request_id)
    assert line["operation"] == "AdjustMissing"
    assert line["outcome"] == "error"
    assert line["codes"] == ["NOT_FOUND"]
    assert "Traceback" not in served.output.text


def test_refusals_are_logged_and_an_unusable_request_id_is_replaced(
    served: Served,
) -> None:
    response = post(served, "onh_wrong", QUERY, **{"X-Request-Id": "two words\tand a tab"})
    assert response.status_code == 401
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)

    lines = request_lines(served, request_id)
    [request] = [e for e in lines if e["logger"] == "onhand.request"]
    assert (request["status"], request["outcome"]) == (401, "error")
    assert "token" not in request
    # The refusal's own line carries the request id too, and never what was sent.
    assert any("refused a request" in e["message"] for e in lines)
    assert "onh_wrong" not in served.output.text


def test_every_line_logged_while_serving_carries_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = logging.getLogger("onhand.test-request-id")
    handler = logging.StreamHandler()
    handler.setFormatter(formatter("json"))
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        token = request_ids.current.set("req-7")
        try:
            try:
                raise RuntimeError("surprise")
            except RuntimeError:
                logger.exception("unexpected error in %s", "adjustInventory")
        finally:
            request_ids.current.reset(token)
        logger.warning("outside any request")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["request_id"] == "req-7"
    assert "RuntimeError: surprise" in inside["exc_info"]
    assert outside["request_id"] is None


def test_text_logs_for_a_terminal() -> None:
    record = logging.LogRecord("onhand.request", logging.INFO, "", 0, "POST /graphql 200", (), None)
    assert formatter("text").format(record).endswith("INFO onhand.request: POST /graphql 200")
    assert Settings(log_format="text").log_format == "text"
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")  # type: ignore[arg-type]  # refused, as from the environment
