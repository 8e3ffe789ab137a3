"""Request bodies beyond ONHAND_MAX_REQUEST_BYTES (JSON) or ONHAND_MAX_UPLOAD_BYTES (multipart)
are answered 413 with PAYLOAD_TOO_LARGE and change nothing, whether Content-Length announces
them or they arrive streamed; bodies within the limits are served."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.auth.roles import Role
from onhand.config import Settings
from support.server import running_server

REQUEST_LIMIT = 64 * 1024
UPLOAD_LIMIT = 256 * 1024
UPSERT = (
    "mutation($p: [CreateProductInput!]!)"
    " { upsertProducts(input: {products: $p}) { errors { code } } }"
)


@pytest.fixture(scope="module")
def limited(settings: Settings, database_url: str) -> Iterator[str]:
    small = settings.model_copy(
        update={"max_request_bytes": REQUEST_LIMIT, "max_upload_bytes": UPLOAD_LIMIT}
    )
    with running_server(small, database_url) as url:
        yield url


def products(count: int) -> bytes:
    """An upsertProducts request of `count` products (about 130 bytes each)."""
    made = [{"sku": f"LIMIT-{n:06d}", "name": f"product {n} " + "x" * 80} for n in range(count)]
    return json.dumps({"query": UPSERT, "variables": {"p": made}}).encode()


async def stored(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT count(*) FROM products WHERE sku LIKE 'LIMIT-%'"))
        return int(found.scalar_one())


def refused(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": limit}


async def test_a_json_body_over_the_limit_is_refused_and_changes_nothing(
    limited: str, tokens: dict[Role, str], engine: AsyncEngine
) -> None:
    body = products(1000)  # as many as one upsert may carry: served, but for its size
    assert len(body) > REQUEST_LIMIT
    async with httpx.AsyncClient(base_url=limited, timeout=30) as http:
        headers = {
            "Authorization": f"Bearer {tokens[Role.ADMIN]}",
            "Content-Type": "application/json",
        }
        refused(await http.post("/graphql", content=body, headers=headers), REQUEST_LIMIT)

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 8192):
                yield body[start : start + 8192]

        # No Content-Length: counted as it arrives.
        refused(await http.post("/graphql", content=streamed(), headers=headers), REQUEST_LIMIT)
        assert await stored(engine) == 0

        fits = products(300)
        assert len(fits) < REQUEST_LIMIT
        answered = await http.post("/graphql", content=fits, headers=headers)
        assert answered.status_code == 200, answered.text
        assert answered.json()["data"]["upsertProducts"]["errors"] == []
    assert await stored(engine) == 300


async def test_uploads_have_their_own_larger_limit(limited: str, tokens: dict[Role, str]) -> None:
    operations = json.dumps(
        {
            "query": "mutation($f: Upload!) { importInventory(input: {file: $f, dryRun: true})"
            " { job { status } errors { code message } } }",
            "variables": {"f": None},
        }
    )
    headers = {"Authorization": f"Bearer {tokens[Role.ADMIN]}"}

    async def upload(size: int) -> httpx.Response:
        header = "SKU,WarehouseCode,Quantity\n"
        row = "LIMIT-1,DC-1,1\n"
        csv = header + row * ((size - len(header)) // len(row))
        async with httpx.AsyncClient(base_url=limited, timeout=30) as http:
            return await http.post(
                "/graphql",
                data={"operations": operations, "map": json.dumps({"0": ["variables.f"]})},
                files={"0": ("stock.csv", csv.encode(), "text/csv")},
                headers=headers,
            )

    # Larger than a JSON request may be, within the upload limit: served.
    served = await upload(REQUEST_LIMIT * 2)
    assert served.status_code == 200, served.text
    assert "errors" not in served.json() or not served.json()["errors"], served.text
    refused(await upload(UPLOAD_LIMIT + 1024), UPLOAD_LIMIT)


async def test_a_client_of_graphql_response_json_is_refused_in_that_media_type(
    limited: str, tokens: dict[Role, str]
) -> None:
    async with httpx.AsyncClient(base_url=limited, timeout=30) as http:
        headers = {
            "Authorization": f"Bearer {tokens[Role.ADMIN]}",
            "Content-Type": "application/json",
            "Accept": "application/graphql-response+json",
        }
        response = await http.post("/graphql", content=products(1000), headers=headers)
    refused(response, REQUEST_LIMIT)
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert "data" not in response.json()
