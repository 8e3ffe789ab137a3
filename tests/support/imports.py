"""CSV imports for tests: sent through the API (as text, or uploaded the way Apollo's upload link
sends files), and the stock they leave read straight from the database."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support.client import Client, operation

IMPORT = operation("ImportInventory")
JOB = """
query($id: ID!, $first: Int, $after: String) {
  importJob(id: $id) {
    id status phase rowsTotal rowsDone created updated unchanged failed productsCreated
    message progress heartbeatAt finishedAt referenceId
    errors(first: $first, after: $after) {
      totalCount
      nodes { line column code message value }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""


async def import_csv(client: Client, csv: str, **options: Any) -> dict[str, Any]:
    """importInventory's payload for CSV text (errors and all)."""
    data = await client(IMPORT, {"input": {"csv": csv, **options}})
    return dict(data["importInventory"])


async def upload(
    http: httpx.AsyncClient,
    token: str,
    content: bytes,
    file_name: str = "stock.csv",
    **options: Any,
) -> httpx.Response:
    """A multipart request as Apollo's upload link sends it: `operations` (the document, with
    null where the file goes), `map` (which part is which variable), then the file."""
    operations = {
        "query": IMPORT,
        "operationName": "ImportInventory",
        "variables": {"input": {"file": None, **options}},
    }
    return await http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "true"},
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (file_name, content, "text/csv")},
    )


async def job(client: Client, job_id: str, first: int = 50, after: str | None = None) -> Any:
    return (await client(JOB, {"id": job_id, "first": first, "after": after}))["importJob"]


def problems(payload: dict[str, Any]) -> set[tuple[Any, Any, Any]]:
    """(line, column, code) of each problem of a payload's job."""
    return {(e["line"], e["column"], e["code"]) for e in payload["job"]["errors"]["nodes"]}


async def stock(engine: AsyncEngine) -> dict[tuple[str, str], dict[str, int]]:
    """Every level by (sku, warehouse code)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT p.sku, w.code, l.on_hand, l.reserved, l.safety_stock, l.reorder_point,"
                " l.reorder_quantity, l.version FROM inventory_levels l"
                " JOIN products p ON p.id = l.product_id JOIN warehouses w ON w.id = l.warehouse_id"
            )
        )
        return {
            (row.sku, row.code): {
                "on_hand": row.on_hand,
                "reserved": row.reserved,
                "safety_stock": row.safety_stock,
                "reorder_point": row.reorder_point,
                "reorder_quantity": row.reorder_quantity,
                "version": row.version,
            }
            for row in rows
        }


async def counts(engine: AsyncEngine) -> dict[str, int]:
    """How many products, levels, ledger rows and outbox events there are."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM products) AS products,"
                    " (SELECT count(*) FROM inventory_levels) AS levels,"
                    " (SELECT count(*) FROM inventory_movements) AS movements,"
                    " (SELECT count(*) FROM outbox WHERE topic = 'INVENTORY_UPDATED') AS events"
                )
            )
        ).one()
        return dict(row._mapping)


async def ledger_explains_stock(engine: AsyncEngine) -> None:
    """Every level's buckets equal the sums of its ledger deltas."""
    async with engine.connect() as conn:
        wrong = (
            await conn.execute(
                text(
                    """
                    SELECT l.id FROM inventory_levels l
                    LEFT JOIN (
                        SELECT level_id, sum(d_on_hand) AS on_hand, sum(d_reserved) AS reserved,
                            sum(d_safety_stock) AS safety_stock
                        FROM inventory_movements GROUP BY level_id
                    ) m ON m.level_id = l.id
                    WHERE l.on_hand <> coalesce(m.on_hand, 0)
                       OR l.reserved <> coalesce(m.reserved, 0)
                       OR l.safety_stock <> coalesce(m.safety_stock, 0)
                    """
                )
            )
        ).all()
    assert wrong == [], f"levels the ledger does not explain: {wrong}"
