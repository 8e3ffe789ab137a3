"""importInventory: CSV applied through the ledger, in one transaction, once per key."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.inventory.imports.jobs import reference_of
from onhand.inventory.imports.options import ImportMode, ImportOptions
from onhand.inventory.imports.runner import run_import
from support import factories
from support.client import Client
from support.imports import (
    counts,
    import_csv,
    job,
    ledger_explains_stock,
    problems,
    stock,
    upload,
)
from support.waiting import until, waiting_for_a_lock
from support.ws import Subscriber

MOVEMENTS = """
query($ref: String!) {
  inventoryMovements(first: 50, filter: {referenceId: $ref}) {
    nodes { type source actor reason product { sku } warehouse { code } }
  }
}"""
SET_LEVEL = """
mutation($input: SetInventoryLevelInput!) {
  setInventoryLevel(input: $input) { inventoryLevel { quantity } errors { code message } }
}"""


def rows(*lines: str, header: str = "SKU,WarehouseCode,Quantity") -> str:
    return "\n".join([header, *lines]) + "\n"


async def warehouses(admin: Client, *codes: str) -> None:
    for code in codes:
        await factories.warehouse(admin, code)


async def test_a_set_import_creates_products_and_levels_through_the_ledger(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1", "DC-2")
    csv = rows(
        "IMP-1,Hex bolt,DC-1,40,5,10,100",
        "IMP-1,Hex bolt,DC-2,0,,,",
        'IMP-2,"Valve, brass",DC-1,7,0,2,12',
        header="SKU,ProductName,WarehouseCode,Quantity,SafetyStock,ReorderPoint,ReorderQuantity",
    )
    payload = await import_csv(admin, csv, createMissingProducts=True, fileName="day-1.csv")
    done = payload["job"]
    assert payload["errors"] == []
    assert done["status"] == "SUCCEEDED"
    assert (done["rowsTotal"], done["rowsDone"], done["created"], done["updated"]) == (3, 3, 3, 0)
    assert (done["unchanged"], done["failed"], done["productsCreated"]) == (0, 0, 2)
    assert await stock(engine) == {
        ("IMP-1", "DC-1"): {
            "on_hand": 40,
            "reserved": 0,
            "safety_stock": 5,
            "reorder_point": 10,
            "reorder_quantity": 100,
            "version": 2,
        },
        # A new level of nothing is created, and changes nothing: no ledger row.
        ("IMP-1", "DC-2"): {
            "on_hand": 0,
            "reserved": 0,
            "safety_stock": 0,
            "reorder_point": 0,
            "reorder_quantity": 0,
            "version": 1,
        },
        ("IMP-2", "DC-1"): {
            "on_hand": 7,
            "reserved": 0,
            "safety_stock": 0,
            "reorder_point": 2,
            "reorder_quantity": 12,
            "version": 2,
        },
    }
    movements = (await admin(MOVEMENTS, {"ref": done["referenceId"]}))["inventoryMovements"]
    assert sorted(
        (m["product"]["sku"], m["warehouse"]["code"], m["type"], m["source"], m["reason"])
        for m in movements["nodes"]
    ) == [
        ("IMP-1", "DC-1", "INITIAL", "IMPORT", "CSV import day-1.csv"),
        ("IMP-2", "DC-1", "INITIAL", "IMPORT", "CSV import day-1.csv"),
    ]
    assert {m["actor"] for m in movements["nodes"]} == {"test-admin"}
    assert await counts(engine) == {"products": 2, "levels": 3, "movements": 2, "events": 2}
    names = await admin("{ products(first: 5) { nodes { sku name } } }")
    assert {p["sku"]: p["name"] for p in names["products"]["nodes"]} == {
        "IMP-1": "Hex bolt",
        "IMP-2": "Valve, brass",
    }
    await ledger_explains_stock(engine)


async def test_rows_that_change_nothing_write_nothing(admin: Client, engine: AsyncEngine) -> None:
    await warehouses(admin, "DC-1")
    first = rows("U-1,DC-1,10", "U-2,DC-1,20", "U-3,DC-1,30")
    await import_csv(admin, first, createMissingProducts=True)
    before = await stock(engine)
    written = await counts(engine)

    again = await import_csv(admin, rows("U-1,DC-1,10", "U-2,DC-1,25", "U-3,DC-1,30"))

    done = again["job"]
    assert (done["created"], done["updated"], done["unchanged"]) == (0, 1, 2)
    after = await stock(engine)
    assert after[("U-1", "DC-1")] == before[("U-1", "DC-1")]  # same version: untouched
    assert after[("U-2", "DC-1")]["on_hand"] == 25
    assert after[("U-2", "DC-1")]["version"] == before[("U-2", "DC-1")]["version"] + 1
    assert await counts(engine) == {
        **written,
        "movements": written["movements"] + 1,
        "events": written["events"] + 1,
    }


async def test_rows_that_change_nothing_do_not_wait_for_their_levels_lock(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    await import_csv(admin, rows("W-1,DC-1,10", "W-2,DC-1,20"), createMissingProducts=True)
    async with engine.connect() as conn:
        # Another transaction holds W-1's level for as long as this block runs.
        await conn.execute(
            text(
                "SELECT l.id FROM inventory_levels l JOIN products p ON p.id = l.product_id"
                " WHERE p.sku = 'W-1' FOR UPDATE OF l"
            )
        )
        payload = await asyncio.wait_for(
            import_csv(admin, rows("W-1,DC-1,10", "W-2,DC-1,21")), timeout=10
        )
        await conn.rollback()
    assert (payload["job"]["updated"], payload["job"]["unchanged"]) == (1, 1)


async def test_headers_encoding_and_separators_as_spreadsheets_write_them(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    content = (
        "\ufeff sku ; Warehouse Code;QUANTITY ; safety_stock;product-name\r\n"
        'H-1;DC-1;12;3;"Nut; M8\r\nzinc plated"\r\n'
        "\r\n"
        "H-2 ; DC-1 ; 12.0 ; ;Ölfilter\r\n"
    ).encode()
    response = await upload(
        admin.http, admin.token or "", content, "export.csv", createMissingProducts=True
    )
    payload = response.json()["data"]["importInventory"]
    assert payload["errors"] == [], payload
    assert payload["job"]["rowsTotal"] == 2
    levels = await stock(engine)
    assert levels[("H-1", "DC-1")]["on_hand"] == 12
    assert levels[("H-1", "DC-1")]["safety_stock"] == 3
    assert levels[("H-2", "DC-1")]["on_hand"] == 12
    names = await admin("{ products(first: 5) { nodes { sku name } } }")
    assert {p["sku"]: p["name"] for p in names["products"]["nodes"]} == {
        "H-1": "Nut; M8\r\nzinc plated",
        "H-2": "Ölfilter",
    }


async def test_an_upload_is_a_multipart_request_as_apollo_sends_it(
    admin: Client, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    content = rows("UP-1,DC-1,5", "UP-2,DC-1,6").encode()
    response = await upload(
        http, admin.token or "", content, "nightly.csv", createMissingProducts=True
    )
    assert response.status_code == 200
    payload = response.json()["data"]["importInventory"]
    assert payload["errors"] == []
    assert payload["job"]["fileName"] == "nightly.csv"
    assert payload["job"]["created"] == 2
    assert (await stock(engine))[("UP-2", "DC-1")]["on_hand"] == 6

    anonymous = await http.post(
        "/graphql",
        data={"operations": "{}", "map": "{}"},
        files={"0": ("x.csv", content, "text/csv")},
    )
    assert anonymous.status_code == 401


async def test_the_file_comes_as_an_upload_or_as_text_not_both_nor_neither(
    admin: Client,
) -> None:
    neither = (
        await admin("mutation { importInventory(input: {}) { job { id } errors { field code } } }")
    )["importInventory"]
    assert neither == {"job": None, "errors": [{"field": "file", "code": "REQUIRED"}]}


async def test_adjust_mode_moves_stock_by_deltas_under_the_available_rule(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    await import_csv(admin, rows("A-1,DC-1,10", "A-2,DC-1,10"), createMissingProducts=True)

    moved = await import_csv(admin, rows("A-1,DC-1,+5", "A-2,DC-1,-3"), mode="ADJUST")
    assert moved["errors"] == []
    levels = await stock(engine)
    assert (levels[("A-1", "DC-1")]["on_hand"], levels[("A-2", "DC-1")]["on_hand"]) == (15, 7)
    before = await counts(engine)

    refused = await import_csv(admin, rows("A-1,DC-1,1", "A-2,DC-1,-8"), mode="ADJUST")

    assert refused["job"]["status"] == "FAILED"
    assert problems(refused) == {(3, "Quantity", "INSUFFICIENT_STOCK")}
    [error] = refused["job"]["errors"]["nodes"]
    assert "7 available" in error["message"]
    assert refused["errors"][0]["field"] == "file.3.Quantity"
    assert await counts(engine) == before  # A-1's +1 was not applied either
    assert (await stock(engine))[("A-1", "DC-1")]["on_hand"] == 15


async def test_a_count_below_what_is_held_is_refused_naming_its_line(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    await import_csv(admin, rows("H-1,DC-1,10", "H-2,DC-1,10"), createMissingProducts=True)
    damaged = await admin(
        SET_LEVEL, {"input": {"sku": "H-2", "warehouseCode": "DC-1", "damaged": 6}}
    )
    assert damaged["setInventoryLevel"]["errors"] == []

    refused = await import_csv(admin, rows("H-1,DC-1,8", "H-2,DC-1,5"))

    assert problems(refused) == {(3, "Quantity", "INSUFFICIENT_STOCK")}
    assert (await stock(engine))[("H-1", "DC-1")]["on_hand"] == 10


async def test_allow_partial_applies_the_good_rows_and_lists_the_bad(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    whole = await import_csv(admin, rows("P-1,DC-1,10", "P-2,DC-1,10"), createMissingProducts=True)
    assert (whole["errors"], whole["skippedRows"]) == ([], [])
    await admin(SET_LEVEL, {"input": {"sku": "P-2", "warehouseCode": "DC-1", "damaged": 6}})

    payload = await import_csv(
        admin,
        rows(
            "P-1,DC-1,11",  # good
            "P-2,DC-1,5",  # below the damaged stock: the ledger refuses it
            "P-1,DC-9,4",  # unknown warehouse
            "P-3,DC-1,-1",  # negative (and a new SKU: created only if its row is good)
            "P-4,DC-1,3",  # good, new
        ),
        allowPartial=True,
        createMissingProducts=True,
    )

    done = payload["job"]
    # Not refused: the rows left out are listed apart, each naming its line.
    assert payload["errors"] == []
    assert [(e["field"], e["code"]) for e in payload["skippedRows"]] == [
        ("file.3.Quantity", "INSUFFICIENT_STOCK"),
        ("file.4.WarehouseCode", "NOT_FOUND"),
        ("file.5.Quantity", "INVALID"),
    ]
    assert payload["skippedRows"][1]["message"].startswith("line 4: ")
    assert done["status"] == "SUCCEEDED"
    assert (done["created"], done["updated"], done["failed"], done["productsCreated"]) == (
        1,
        1,
        3,
        1,
    )
    assert problems(payload) == {
        (3, "Quantity", "INSUFFICIENT_STOCK"),
        (4, "WarehouseCode", "NOT_FOUND"),
        (5, "Quantity", "INVALID"),
    }
    levels = await stock(engine)
    assert levels[("P-1", "DC-1")]["on_hand"] == 11
    assert levels[("P-2", "DC-1")]["on_hand"] == 10
    assert levels[("P-4", "DC-1")]["on_hand"] == 3
    assert ("P-3", "DC-1") not in levels
    await ledger_explains_stock(engine)


async def test_a_partial_import_leaves_no_level_for_a_refused_new_row(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1", "DC-2")
    await import_csv(admin, rows("N-1,DC-1,10"), createMissingProducts=True)

    payload = await import_csv(
        admin, rows("N-1,DC-1,2", "N-1,DC-2,-4"), mode="ADJUST", allowPartial=True
    )

    assert problems(payload) == {(3, "Quantity", "INSUFFICIENT_STOCK")}
    assert payload["job"]["updated"] == 1
    assert set(await stock(engine)) == {("N-1", "DC-1")}


async def test_a_dry_run_reports_and_changes_nothing(admin: Client, engine: AsyncEngine) -> None:
    await warehouses(admin, "DC-1")
    await import_csv(admin, rows("D-1,DC-1,10"), createMissingProducts=True)
    before, levels = await counts(engine), await stock(engine)

    payload = await import_csv(
        admin,
        rows("D-1,DC-1,12", "D-2,DC-1,4", "D-3,DC-1,0"),
        dryRun=True,
        createMissingProducts=True,
    )

    done = payload["job"]
    assert (done["status"], done["created"], done["updated"], done["productsCreated"]) == (
        "SUCCEEDED",
        2,
        1,
        2,
    )
    assert done["message"].startswith("would create")
    assert await counts(engine) == before
    assert await stock(engine) == levels

    refused = await import_csv(admin, rows("D-1,DC-1,-12", "D-9,DC-1,1"), dryRun=True)
    assert refused["job"]["status"] == "FAILED"
    assert problems(refused) == {(2, "Quantity", "INVALID"), (3, "SKU", "NOT_FOUND")}
    assert await counts(engine) == before


async def test_the_same_file_with_the_same_key_is_applied_once(
    admin: Client, operator: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    await import_csv(admin, rows("K-1,DC-1,1"), createMissingProducts=True)
    adjust = rows("K-1,DC-1,5")

    first = await import_csv(admin, adjust, mode="ADJUST", idempotencyKey="erp-2026-05-01")
    again = await import_csv(admin, adjust, mode="ADJUST", idempotencyKey="erp-2026-05-01")

    assert again["job"]["id"] == first["job"]["id"]
    assert (await stock(engine))[("K-1", "DC-1")]["on_hand"] == 6

    other = await import_csv(
        admin, rows("K-1,DC-1,7"), mode="ADJUST", idempotencyKey="erp-2026-05-01"
    )
    assert [e["code"] for e in other["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert other["job"] is None

    # Keys are the caller's: another token's same key is another request.
    theirs = await import_csv(operator, adjust, mode="ADJUST", idempotencyKey="erp-2026-05-01")
    assert theirs["job"]["id"] != first["job"]["id"]
    mine = await import_csv(admin, adjust, mode="ADJUST", idempotencyKey="erp-2026-05-01")
    assert mine["job"]["id"] == first["job"]["id"]
    assert (await stock(engine))[("K-1", "DC-1")]["on_hand"] == 11


async def test_concurrent_sends_of_one_key_apply_once(admin: Client, engine: AsyncEngine) -> None:
    await warehouses(admin, "DC-1")
    await import_csv(admin, rows("C-1,DC-1,0"), createMissingProducts=True)

    sent = await asyncio.gather(
        *(
            import_csv(admin, rows("C-1,DC-1,1"), mode="ADJUST", idempotencyKey="burst")
            for _ in range(5)
        )
    )

    assert all(payload["errors"] == [] for payload in sent)
    assert (await stock(engine))[("C-1", "DC-1")]["on_hand"] == 1


async def test_a_storefront_may_not_import(storefront: Client, admin: Client) -> None:
    await warehouses(admin, "DC-1")
    payload = await import_csv(storefront, rows("S-1,DC-1,1"), createMissingProducts=True)
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    jobs = await storefront.raw("{ importJobs { nodes { id } } }")
    assert jobs["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_background_import_is_followed_and_its_problems_paged(
    admin: Client, engine: AsyncEngine
) -> None:
    await warehouses(admin, "DC-1")
    lines = [f"B-{i},DC-1,{i if i % 2 else -i}" for i in range(1, 121)]

    started = await import_csv(
        admin, rows(*lines), background=True, allowPartial=True, createMissingProducts=True
    )

    job_id = started["job"]["id"]
    assert started["errors"] == []
    for _ in range(200):
        state = await job(admin, job_id)
        if state["status"] != "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert state["status"] == "SUCCEEDED"
    assert (state["created"], state["failed"], state["progress"]) == (60, 60, 1.0)
    seen: list[int] = []
    after = None
    while True:
        page = (await job(admin, job_id, first=25, after=after))["errors"]
        assert page["totalCount"] == 60
        seen += [node["line"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [i + 1 for i in range(2, 121, 2)]  # every even row, in file order
    listed = await admin("{ importJobs(first: 5) { nodes { id status } totalCount } }")
    assert listed["importJobs"]["nodes"][0] == {"id": job_id, "status": "SUCCEEDED"}
    node = await admin(
        "query($id: ID!) { node(id: $id) { ... on ImportJob { failed } } }", {"id": job_id}
    )
    assert node["node"] == {"failed": 60}


async def test_import_progress_follows_an_import_to_its_end(admin: Client, base_url: str) -> None:
    await warehouses(admin, "DC-1")
    lines = [f"G-{i},DC-1,{i}" for i in range(1, 3001)]
    started = await import_csv(admin, rows(*lines), background=True, createMissingProducts=True)
    job_id = started["job"]["id"]

    seen = []
    async with Subscriber(base_url, admin.token) as subscriber:
        operation_id = await subscriber.subscribe(
            "subscription($id: ID!) { importProgress(id: $id) {"
            " status phase rowsDone rowsTotal created } }",
            {"id": job_id},
        )
        while True:
            message = await subscriber.receive()
            if message["type"] == "complete":
                assert message["id"] == operation_id
                break
            assert message["type"] == "next", message
            seen.append(message["payload"]["data"]["importProgress"])

    done = [state["rowsDone"] for state in seen]
    assert done == sorted(done)
    assert seen[-1] == {
        "status": "SUCCEEDED",
        "phase": "FINISHED",
        "rowsDone": 3000,
        "rowsTotal": 3000,
        "created": 3000,
    }


async def test_an_import_logged_at_info_level_says_what_it_did(
    admin: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # INFO is the default level: the import's summary line must not break the import (a
    # LogRecord refuses extra fields named like its own, such as `created`).
    await warehouses(admin, "LOG-1")
    with caplog.at_level(logging.INFO, logger="onhand.inventory.imports.runner"):
        done = await import_csv(admin, rows("LOG-SKU,LOG-1,3"), createMissingProducts=True)
    assert done["errors"] == []
    assert done["job"]["status"] == "SUCCEEDED"
    [summary] = [r for r in caplog.records if r.getMessage().startswith("import ")]
    assert summary.__dict__["levels_created"] == 1


async def _last_analyzed(engine: AsyncEngine) -> dict[str, datetime | None]:
    """When each table the import writes (the newest partition of a partitioned one) was last
    analyzed by hand."""
    async with engine.connect() as conn:
        names = [
            (
                await conn.execute(
                    text(f"SELECT tableoid::regclass::text FROM {table} ORDER BY id DESC LIMIT 1")
                )
            ).scalar_one()
            for table in ("outbox", "inventory_movements")
        ] + ["inventory_levels"]
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        found = await conn.execute(
            text("SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname = ANY(:n)"),
            {"n": names},
        )
        return {row.relname: row.last_analyze for row in found}


async def test_a_large_import_analyzes_what_it_wrote(admin: Client, engine: AsyncEngine) -> None:
    """Statistics from before a large import would have the relay read its backlog through the
    wrong index (db/statistics.py): the import analyzes the tables it wrote once it commits."""
    await warehouses(admin, "DC-1")
    await import_csv(admin, rows("SMALL-1,DC-1,1"), createMissingProducts=True)
    before = await _last_analyzed(engine)
    large = rows(*(f"BULK-{n:05},DC-1,{n % 50}" for n in range(10_000)))
    payload = await import_csv(admin, large, createMissingProducts=True)
    assert payload["errors"] == []
    assert payload["job"]["created"] == 10_000

    async def analyzed() -> bool:
        after = await _last_analyzed(engine)
        return len(after) == 3 and all(
            seen is not None and seen > (before.get(name) or datetime.min.replace(tzinfo=UTC))
            for name, seen in after.items()
        )

    await until(analyzed, "the import's tables analyzed", seconds=10)


async def _events(engine: AsyncEngine, reference: str) -> dict[tuple[str, str], dict]:
    """The INVENTORY_UPDATED events of one import, by (sku, warehouse code)."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT p.sku, w.code, o.payload FROM outbox o"
                " JOIN products p ON p.id = o.product_id JOIN warehouses w ON w.id = o.warehouse_id"
                " WHERE o.topic = 'INVENTORY_UPDATED' AND o.payload->>'referenceId' = :reference"
            ),
            {"reference": reference},
        )
        return {(row.sku, row.code): row.payload for row in found}


async def test_new_levels_are_created_holding_their_rows_and_their_movements_recorded(
    admin: Client, engine: AsyncEngine
) -> None:
    """A new level is written once, with what its row makes of it; the ledger judges its
    movement from zero and records it, in slices of their own, before the existing levels'."""
    await warehouses(admin, "DC-1", "DC-2")
    await import_csv(admin, rows("R-1,DC-1,10", "R-2,DC-1,3"), createMissingProducts=True)
    csv = rows(
        "R-1,DC-1,12,,",  # an existing level, changed
        "R-2,DC-1,3,,",  # an existing level, unchanged
        "R-1,DC-2,5,,",  # new levels from here
        "R-3,DC-1,0,,",
        "R-3,DC-2,7,2,4",
        header="SKU,WarehouseCode,Quantity,SafetyStock,ReorderPoint",
    )
    options = ImportOptions(create_missing_products=True)
    done = await run_import(engine, csv.encode(), options, "test-admin", slice_rows=2)

    assert done.status == "SUCCEEDED", done.message
    assert (done.created, done.updated, done.unchanged) == (3, 1, 1)
    levels = await stock(engine)
    assert {
        key: (level["on_hand"], level["safety_stock"], level["reorder_point"], level["version"])
        for key, level in levels.items()
    } == {
        ("R-1", "DC-1"): (12, 0, 0, 3),
        ("R-2", "DC-1"): (3, 0, 0, 2),
        ("R-1", "DC-2"): (5, 0, 0, 2),
        ("R-3", "DC-1"): (0, 0, 0, 1),  # created, moved by nothing: no movement, no event
        ("R-3", "DC-2"): (7, 2, 4, 2),
    }
    events = await _events(engine, reference_of(done.id))
    assert set(events) == {("R-1", "DC-1"), ("R-1", "DC-2"), ("R-3", "DC-2")}
    new = events[("R-3", "DC-2")]
    assert (new["type"], new["version"]) == ("INITIAL", 2)
    assert new["before"] == dict.fromkeys(new["before"], 0)
    assert (new["after"]["on_hand"], new["after"]["safety_stock"]) == (7, 2)
    assert new["after"]["available"] == 5
    assert events[("R-1", "DC-1")]["before"]["on_hand"] == 10
    # Each event names its own ledger row, new levels' and existing levels' alike.
    async with engine.connect() as conn:
        ledger = {
            row.id: row
            for row in await conn.execute(
                text(
                    "SELECT id, level_id, type, on_hand FROM inventory_movements"
                    " WHERE reference_id = :reference"
                ),
                {"reference": reference_of(done.id)},
            )
        }
    assert len(ledger) == len(events) == 3
    for event in events.values():
        row = ledger[event["movementId"]]
        assert (row.level_id, row.type) == (event["levelId"], event["type"])
        assert row.on_hand == event["after"]["on_hand"]
    await ledger_explains_stock(engine)

    # A partial import drops a refused new level however the slices fall, keeping the others.
    adjust = rows("R-4,DC-1,5", "R-4,DC-2,-1", "R-5,DC-1,2")
    options = ImportOptions(mode=ImportMode.ADJUST, allow_partial=True)
    await factories.product(admin, "R-4")
    await factories.product(admin, "R-5")
    partial = await run_import(engine, adjust.encode(), options, "test-admin", slice_rows=1)
    assert (partial.created, partial.failed) == (2, 1)
    levels = await stock(engine)
    assert ("R-4", "DC-2") not in levels
    assert (levels[("R-4", "DC-1")]["on_hand"], levels[("R-5", "DC-1")]["version"]) == (5, 2)
    await ledger_explains_stock(engine)


async def test_a_product_another_transaction_creates_meanwhile_is_not_created_twice(
    admin: Client, engine: AsyncEngine
) -> None:
    """A product missing when the file was checked, which another transaction creates while
    the import inserts it (committed while the import waits on it), is used, not created
    again nor refused: the import's statement runs again and leaves it out."""
    await warehouses(admin, "DC-1")
    async with engine.connect() as other:
        await other.begin()
        await other.execute(text("INSERT INTO products (sku, name) VALUES ('RACE-2', 'theirs')"))
        importing = asyncio.create_task(
            import_csv(admin, rows("RACE-2,DC-1,4", "RACE-3,DC-1,5"), createMissingProducts=True)
        )

        await until(
            lambda: waiting_for_a_lock(engine, "onhand-import"),
            "the import waiting for their product",
        )
        await other.commit()
        payload = await importing

    assert payload["errors"] == []
    assert payload["job"]["productsCreated"] == 1
    assert payload["job"]["created"] == 2
    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT sku, name FROM products ORDER BY sku"))
        names = {sku: name for sku, name in found}
    assert names == {"RACE-2": "theirs", "RACE-3": "RACE-3"}
    stocked = await stock(engine)
    assert (stocked[("RACE-2", "DC-1")]["on_hand"], stocked[("RACE-3", "DC-1")]["on_hand"]) == (
        4,
        5,
    )
    await ledger_explains_stock(engine)


async def test_a_level_another_transaction_creates_meanwhile_is_moved_as_it_stands(
    admin: Client, engine: AsyncEngine
) -> None:
    """The import creates its missing levels as it stages its rows; one that another
    transaction creates first (committed while the import waits on it) is not created twice
    nor left out: the import's statement runs again, and its row moves it as an existing
    level."""
    await warehouses(admin, "DC-1")
    await factories.product(admin, "RACE-1")
    async with engine.connect() as other:
        await other.begin()
        await other.execute(
            text(
                "INSERT INTO inventory_levels (product_id, warehouse_id)"
                " SELECT p.id, w.id FROM products p, warehouses w"
                " WHERE p.sku = 'RACE-1' AND w.code = 'DC-1'"
            )
        )
        importing = asyncio.create_task(import_csv(admin, rows("RACE-1,DC-1,9")))

        await until(
            lambda: waiting_for_a_lock(engine, "onhand-import"),
            "the import waiting for their level",
        )
        await other.commit()
        payload = await importing

    assert payload["errors"] == []
    assert (payload["job"]["created"], payload["job"]["updated"]) == (0, 1)
    assert (await stock(engine))[("RACE-1", "DC-1")] == {
        "on_hand": 9,
        "reserved": 0,
        "safety_stock": 0,
        "reorder_point": 0,
        "reorder_quantity": 0,
        "version": 2,
    }
    movements = await admin(MOVEMENTS, {"ref": payload["job"]["referenceId"]})
    assert [m["type"] for m in movements["inventoryMovements"]["nodes"]] == ["SET"]
    await ledger_explains_stock(engine)
