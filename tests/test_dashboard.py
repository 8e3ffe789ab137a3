"""The operations dashboard in a real browser (Debian's chromium, driven by Playwright) against
the test server and real data made through the API: it signs in with a token, shows what the
API says, acts through the API, follows changes live and catches up after a network drop.

One browser serves the module and the admin's page is reused from test to test (each test
uses SKUs of its own), so the tables are emptied once, here, not before every test.
Screenshots of each view are written to test-artifacts/dashboard/."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from pydantic import ValidationError

from onhand.auth.roles import Role
from onhand.auth.tokens import create_token
from onhand.config import Settings
from onhand.db import embedded
from onhand.db.engine import create_engine
from support import channels, database, factories
from support.browser import Tab, chromium, missing_reason, open_tab
from support.client import Client
from support.server import running_server
from support.waiting import until

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

# The page must show a change made through the API within this long (the requirement).
LIVE_WITHIN_SECONDS = 1.0

HEALTH = (
    """query { warehouses { nodes { code stockHealth { levels outOfStock lowStock healthy } } } }"""
)
ALERTS = """query($sku: String!) {
  alerts(filter: {sku: $sku, kind: [OUT_OF_STOCK]}) {
    nodes { id kind status acknowledgedBy message }
  }
}"""
COUNT = """mutation($input: RecordCycleCountInput!) {
  recordCycleCount(input: $input) {
    cycleCount { lines { id status difference } } errors { field message code }
  }
}"""
REVIEWS = """query($code: String!) {
  cycleCountReviews(warehouseCode: $code, status: [PENDING_REVIEW, APPROVED, REJECTED]) {
    nodes { id status reviewedBy product { sku } }
  }
}"""
RUNS = """query {
  reconciliationReport(lastRuns: 1) {
    runs { id levelsChecked warehouse { code } product { sku } }
  }
}"""
IMPORT = """mutation($input: ImportInventoryInput!) {
  importInventory(input: $input) { job { id status rowsDone } errors { field message code } }
}"""


@pytest.fixture
def clean() -> None:
    """Replaces the suite's per-test emptying: this module has a database of its own."""


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    """A PostgreSQL of this module's own. The relay publishes an event once every older
    transaction of the whole cluster has ended, so on a server shared with other suites one
    of their long transactions would hold back the very events the page is timed on."""
    # Outside pytest's own temporary folders, which other pytest runs on the machine prune.
    directory = Path(tempfile.mkdtemp(prefix="onhand-test-dashboard-pg-"))
    server = embedded.start(directory, database="postgres", cleanup="delete")
    try:
        yield database.create(server)
    finally:
        embedded.leave(directory)


@pytest.fixture(scope="module")
def own_settings(settings: Settings, own_database: str) -> Settings:
    return settings.model_copy(update={"database_url": own_database})


@pytest.fixture(scope="module")
def server(own_settings: Settings, own_database: str) -> Iterator[str]:
    with running_server(own_settings, own_database) as url:
        yield url


@pytest_asyncio.fixture(scope="module")
async def people(own_database: str) -> dict[Role, str]:
    """A token per role, named as the suite's are (test-admin, test-storefront...)."""
    engine = create_engine(own_database)
    try:
        async with engine.begin() as conn:
            made = {
                role: (await create_token(conn, f"test-{role.lower()}", role)).secret
                for role in (Role.ADMIN, Role.OPERATOR, Role.STOREFRONT)
            }
    finally:
        await engine.dispose()
    return made


@pytest_asyncio.fixture(scope="module")
async def admin_api(server: str, people: dict[Role, str]) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(base_url=server, timeout=60) as http:
        yield Client(http, people[Role.ADMIN])


@pytest_asyncio.fixture(scope="module")
async def stock(admin_api: Client) -> dict[str, Any]:
    """Two warehouses: DC-EAST with a healthy, a low and an out-of-stock level, DC-WEST with
    one level; a channel selling DC-EAST's stock."""
    made = await factories.stocked(admin_api, "WIDGET-1", {"DC-EAST": 120, "DC-WEST": 40})
    await factories.stocked(admin_api, "WIDGET-2", {"DC-EAST": 4})
    await factories.stocked(admin_api, "WIDGET-3", {"DC-EAST": 0})
    await channels.channel(admin_api, "WEB", ["DC-EAST"], safetyBufferPercent=0)
    return made


@pytest_asyncio.fixture(scope="module")
async def browser(stock: dict[str, Any]) -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def signed_in(browser: Browser, base_url: str, token: str, **size: int) -> Tab:
    tab = await open_tab(browser, f"{base_url}/dashboard", **size)
    await tab.page.get_by_label("API token").fill(token)
    await tab.page.get_by_role("button", name="Sign in").click()
    await expect(tab.page.locator("#connection")).to_have_text("Live", timeout=15_000)
    return tab


@pytest_asyncio.fixture(scope="module")
async def admin_tab(browser: Browser, server: str, people: dict[Role, str]) -> Tab:
    return await signed_in(browser, server, people[Role.ADMIN])


async def view(page: Page, name: str) -> None:
    await page.get_by_role("tab", name=name).click()
    await expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


async def adjust(api: Client, sku: str, code: str, delta: int, reason: str) -> None:
    await api.mutate(
        "adjustInventory",
        factories.ADJUST,
        {"input": {"sku": sku, "warehouseCode": code, "adjustment": delta, "reason": reason}},
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def sold_out(api: Client, prefix: str, code: str) -> str:
    """A new SKU stocked at `code` and then sold out there (the change raises an alert)."""
    sku = unique(prefix)
    await factories.stocked(api, sku, {code: 5})
    await adjust(api, sku, code, -5, "sold out")
    return sku


async def test_the_overview_shows_each_warehouses_stock_health_with_no_console_errors(
    admin_tab: Tab, admin_api: Client
) -> None:
    page = admin_tab.page
    await view(page, "Overview")
    health = {w["code"]: w["stockHealth"] for w in (await admin_api(HEALTH))["warehouses"]["nodes"]}
    assert health["DC-EAST"] == {"levels": 3, "outOfStock": 1, "lowStock": 1, "healthy": 1}
    for code, counts in health.items():
        row = page.locator(f'tr[data-warehouse="{code}"]')
        for key in ("outOfStock", "lowStock", "healthy"):
            cell = row.locator(f'td[data-count="{key}"] .count')
            await expect(cell).to_have_text(str(counts[key]))
    # The state is told by word and shape too, not by colour alone.
    await expect(page.locator("#view-overview thead")).to_contain_text("✖ Out of stock")
    await admin_tab.screenshot("overview")
    # The token was entered once: a reload keeps the session (the tab's sessionStorage), and
    # the token never appears in the address.
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("Live")
    await expect(page.get_by_label("API token")).to_be_hidden()
    assert "onh_" not in page.url
    assert admin_tab.errors == []


async def test_search_finds_a_sku_and_shows_every_bucket_and_each_channels_sellable_stock(
    admin_tab: Tab,
) -> None:
    page = admin_tab.page
    await view(page, "Products")
    await page.get_by_label("SKU or product name").fill("widget-1")
    await page.get_by_role("button", name="Search").click()
    east = page.locator('tr[data-level="WIDGET-1@DC-EAST"]')
    await expect(east.locator('[data-bucket="onHand"]')).to_have_text("120")
    await expect(east.locator('[data-bucket="available"]')).to_have_text("120")
    await expect(east.locator('[data-bucket="reserved"]')).to_have_text("0")
    await expect(
        page.locator('tr[data-level="WIDGET-1@DC-WEST"] [data-bucket="onHand"]')
    ).to_have_text("40")
    # WEB sells DC-EAST's stock only.
    await expect(
        page.locator('article[data-sku="WIDGET-1"] tr[data-channel="WEB"]')
    ).to_contain_text("120")
    await admin_tab.screenshot("search")


async def test_a_change_made_through_the_api_shows_on_the_open_page_within_a_second(
    admin_tab: Tab, admin_api: Client
) -> None:
    page = admin_tab.page
    await view(page, "Products")
    await page.get_by_label("SKU or product name").fill("WIDGET-1")
    await page.get_by_role("button", name="Search").click()
    on_hand = page.locator('tr[data-level="WIDGET-1@DC-WEST"] [data-bucket="onHand"]')
    await expect(on_hand).to_have_text("40")

    reason = unique("received")
    await adjust(admin_api, "WIDGET-1", "DC-WEST", 7, reason)
    changed = time.monotonic()
    await expect(on_hand).to_have_text("47", timeout=5_000)
    level_seconds = time.monotonic() - changed

    # What a channel may sell follows too: WEB sells DC-EAST's stock.
    web = page.locator('article[data-sku="WIDGET-1"] tr[data-channel="WEB"]')
    await expect(web).to_contain_text("120")
    await adjust(admin_api, "WIDGET-1", "DC-EAST", 3, unique("received"))
    await expect(web).to_contain_text("123")

    await view(page, "Movements")
    reason = unique("cycle-fix")
    await adjust(admin_api, "WIDGET-1", "DC-WEST", -2, reason)
    changed = time.monotonic()
    row = page.locator("#movement-stream tbody tr", has_text=reason)
    await expect(row).to_have_count(1, timeout=5_000)
    stream_seconds = time.monotonic() - changed
    await expect(row).to_contain_text("test-admin")  # who
    await expect(row).to_contain_text("WIDGET-1 @ DC-WEST")  # what
    await expect(row).to_contain_text("47 → 45")  # before and after
    await admin_tab.screenshot("movements")
    assert level_seconds < LIVE_WITHIN_SECONDS, level_seconds
    assert stream_seconds < LIVE_WITHIN_SECONDS, stream_seconds


async def test_an_alert_raised_shows_live_and_acknowledging_it_on_the_page_acknowledges_it(
    admin_tab: Tab, admin_api: Client
) -> None:
    page = admin_tab.page
    await view(page, "Alerts")  # open before the alert exists: it must arrive by itself
    sku = await sold_out(admin_api, "EMPTY", "DC-WEST")

    async def raised() -> list[dict[str, Any]]:
        return list((await admin_api(ALERTS, {"sku": sku}))["alerts"]["nodes"])

    await until(raised, f"an OUT_OF_STOCK alert for {sku}")
    alert = (await raised())[0]
    button = page.get_by_role("button", name=f"Acknowledge: {alert['message']}")
    await expect(button).to_be_visible()
    await button.click()
    await expect(page.locator(f'tr[data-alert="{alert["id"]}"]')).to_contain_text(
        "Acknowledged by test-admin"
    )
    await admin_tab.screenshot("alerts")
    [after] = await raised()
    assert (after["status"], after["acknowledgedBy"]) == ("ACKNOWLEDGED", "test-admin")


async def test_approving_and_rejecting_count_lines_on_the_page_reviews_them(
    admin_tab: Tab, admin_api: Client
) -> None:
    approved, rejected = unique("COUNTED"), unique("RECOUNT")
    for sku in (approved, rejected):
        await factories.stocked(admin_api, sku, {"DC-WEST": 50})
    counted = await admin_api.mutate(
        "recordCycleCount",
        COUNT,
        {
            "input": {
                "warehouseCode": "DC-WEST",
                "counts": [
                    {"sku": approved, "countedQuantity": 30},
                    {"sku": rejected, "countedQuantity": 70},
                ],
            }
        },
    )
    lines = counted["cycleCount"]["lines"]
    assert [line["status"] for line in lines] == ["PENDING_REVIEW"] * 2  # 20 units off each
    page = admin_tab.page
    await view(page, "Discrepancies")
    await page.get_by_role("button", name=f"Approve count of {approved} at DC-WEST").click()
    await page.get_by_role("button", name=f"Reject count of {rejected} at DC-WEST").click()
    for line in lines:
        await expect(page.locator(f'tr[data-count-line="{line["id"]}"]')).to_have_count(0)
    reviewed = (await admin_api(REVIEWS, {"code": "DC-WEST"}))["cycleCountReviews"]["nodes"]
    verdicts = {r["product"]["sku"]: (r["status"], r["reviewedBy"]) for r in reviewed}
    assert verdicts[approved] == ("APPROVED", "test-admin")
    assert verdicts[rejected] == ("REJECTED", "test-admin")
    for sku, on_hand in ((approved, 30), (rejected, 50)):  # a rejected count changes nothing
        level = await admin_api(
            'query($s: String!) { inventoryLevel(sku: $s, warehouseCode: "DC-WEST") { onHand } }',
            {"s": sku},
        )
        assert level["inventoryLevel"]["onHand"] == on_hand
    # A person made that change, at the page: the ledger says so.
    moved = await admin_api(
        "query($s: String!) { inventoryMovements(filter: {sku: $s, types: [CYCLE_COUNT]}) {"
        " nodes { source actor } } }",
        {"s": approved},
    )
    assert moved["inventoryMovements"]["nodes"] == [{"source": "MANUAL", "actor": "test-admin"}]


async def test_a_reconciliation_run_from_the_page_shows_its_result(
    admin_tab: Tab, admin_api: Client
) -> None:
    page = admin_tab.page
    await view(page, "Discrepancies")
    await page.get_by_label("Reconcile").select_option("DC-EAST")
    await page.get_by_role("button", name="Run reconciliation").click()
    result = page.locator("#reconcile-result")
    await expect(result).to_contain_text("levels checked")
    [run] = (await admin_api(RUNS))["reconciliationReport"]["runs"]
    assert run["warehouse"]["code"] == "DC-EAST"
    await expect(result).to_have_attribute("data-run", run["id"])
    await expect(result).to_contain_text(f"{run['levelsChecked']} levels checked, 0 discrepancies")
    await expect(page.locator(f'#view-discrepancies tr[data-run="{run["id"]}"]')).to_contain_text(
        "DC-EAST"
    )

    # One SKU, everywhere; then a SKU there is not, refused with the field named.
    await page.get_by_label("Reconcile").select_option("")
    await page.get_by_label("SKU (optional)").fill("WIDGET-1")
    await page.get_by_role("button", name="Run reconciliation").click()
    await expect(result).to_contain_text("Reconciled WIDGET-1 at all warehouses")
    await expect(result).to_contain_text("2 levels checked, 0 discrepancies")
    [run] = (await admin_api(RUNS))["reconciliationReport"]["runs"]
    assert (run["product"], run["warehouse"], run["levelsChecked"]) == (
        {"sku": "WIDGET-1"},
        None,
        2,
    )
    await admin_tab.screenshot("discrepancies")
    await page.get_by_label("SKU (optional)").fill("NO-SUCH-SKU")
    await page.get_by_role("button", name="Run reconciliation").click()
    await expect(result).to_contain_text("Not run: sku:")


async def test_an_import_shows_its_progress_and_channels_their_sync_state(
    admin_tab: Tab, admin_api: Client
) -> None:
    page = admin_tab.page
    await view(page, "Imports")  # open before the import starts: it must appear by itself
    # Quantities of 20 and more: healthy levels, which raise no alerts.
    rows = "".join(f"BULK-{n:05d},DC-WEST,{20 + n % 50}\n" for n in range(2000))
    started = await admin_api.mutate(
        "importInventory",
        IMPORT,
        {
            "input": {
                "csv": "SKU,WarehouseCode,Quantity\n" + rows,
                "fileName": "restock.csv",
                "createMissingProducts": True,
                "background": True,
            }
        },
    )
    job = page.locator(f'tr[data-job="{started["job"]["id"]}"]')
    await expect(job).to_contain_text("Succeeded", timeout=30_000)
    await expect(job).to_contain_text("2,000 / 2,000 rows")
    await expect(job.locator("progress")).to_have_attribute("value", "1")
    await admin_tab.screenshot("imports")
    await view(page, "Channels")
    await expect(page.locator('#view-channels tr[data-channel="WEB"]')).to_contain_text("In sync")
    await admin_tab.screenshot("channels")


async def test_after_a_network_drop_the_stream_catches_up_with_no_movement_missed(
    admin_tab: Tab, admin_api: Client
) -> None:
    page = admin_tab.page
    await view(page, "Movements")
    # The stream is up to date (an import's events may still be arriving) before the drop.
    current = unique("before-the-drop")
    await adjust(admin_api, "WIDGET-1", "DC-EAST", 1, current)
    await expect(page.locator("#movement-stream tbody tr", has_text=current)).to_have_count(
        1, timeout=30_000
    )
    last_seen = await page.locator("#movement-stream tbody tr").first.get_attribute("data-sequence")
    await admin_tab.context.set_offline(True)
    await expect(page.locator("#connection")).not_to_have_text("Live")
    reasons = [unique(f"while-away-{n}") for n in range(5)]
    for reason in reasons:
        await adjust(admin_api, "WIDGET-1", "DC-EAST", 1, reason)
    # The new connection's subscriptions, as the page sends them.
    sent: list[dict[str, Any]] = []
    page.on(
        "websocket",
        lambda socket: socket.on(
            "framesent",
            lambda frame: sent.append(json.loads(frame)) if "subscribe" in frame else None,
        ),
    )
    await admin_tab.context.set_offline(False)
    await expect(page.locator("#connection")).to_have_text("Live", timeout=15_000)
    for reason in reasons:
        await expect(page.locator("#movement-stream tbody tr", has_text=reason)).to_have_count(1)
    # It asked to resume after the last event it had seen: the server replayed the rest.
    [resumed] = [m for m in sent if "DashboardStock" in m["payload"]["query"]]
    assert resumed["payload"]["variables"] == {"after": int(str(last_seen))}
    # And it keeps following afterwards.
    after = unique("back-again")
    await adjust(admin_api, "WIDGET-1", "DC-EAST", 1, after)
    await expect(page.locator("#movement-stream tbody tr", has_text=after)).to_have_count(1)
    # What the browser logged of requests refused while it was offline was this test's doing.
    admin_tab.errors[:] = [e for e in admin_tab.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    sequences = await page.locator("#movement-stream tbody tr").evaluate_all(
        "rows => rows.map(row => Number(row.dataset.sequence))"
    )
    assert sequences == sorted(set(sequences), reverse=True)  # no duplicate, newest first


async def test_the_page_is_usable_by_keyboard_and_at_tablet_width(
    browser: Browser, server: str, people: dict[Role, str]
) -> None:
    tab = await signed_in(browser, server, people[Role.OPERATOR], width=820, height=1180)
    try:
        page = tab.page
        await page.get_by_role("tab", name="Overview").focus()
        await page.keyboard.press("ArrowRight")
        await expect(page.get_by_role("tab", name="Products")).to_be_focused()
        await expect(page.get_by_role("tabpanel")).to_have_attribute("id", "view-search")
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("SKU or product name")).to_be_focused()
        await page.keyboard.type("WIDGET-2")
        await page.keyboard.press("Enter")
        await expect(page.locator('tr[data-level="WIDGET-2@DC-EAST"]')).to_be_visible()
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0  # wide tables scroll inside their box, the page does not
        # A product's levels, every bucket, fit a tablet's width without scrolling.
        hidden = await page.locator('article[data-sku="WIDGET-2"] .table-wrap').first.evaluate(
            "wrap => wrap.scrollWidth - wrap.clientWidth"
        )
        assert hidden <= 0
        await tab.screenshot("tablet-search")
        assert tab.errors == []
    finally:
        await tab.context.close()


async def test_a_storefront_token_is_offered_no_admin_action(
    browser: Browser, server: str, people: dict[Role, str], admin_api: Client
) -> None:
    # An alert it could acknowledge, were it allowed to.
    sku = await sold_out(admin_api, "SHELF", "DC-EAST")
    await until(lambda: _has_alert(admin_api, sku), f"an alert for {sku}")
    tab = await signed_in(browser, server, people[Role.STOREFRONT])
    try:
        page = tab.page
        await expect(page.locator("#who")).to_contain_text("storefront")
        tabs = await page.get_by_role("tab").all_inner_texts()
        assert tabs == ["Overview", "Products", "Movements", "Alerts", "Channels"]
        await view(page, "Alerts")
        await expect(page.locator("#view-alerts tbody tr", has_text=sku)).to_have_count(1)
        for action in ("Acknowledge", "Approve", "Reject", "Run reconciliation"):
            await expect(page.get_by_role("button", name=action)).to_have_count(0)
        await tab.screenshot("storefront-alerts")
        assert tab.errors == []
    finally:
        await tab.context.close()


async def _has_alert(api: Client, sku: str) -> bool:
    return bool((await api(ALERTS, {"sku": sku}))["alerts"]["nodes"])


async def test_no_page_logged_a_console_error(admin_tab: Tab) -> None:
    assert admin_tab.errors == []


async def test_the_dashboard_can_move_or_be_switched_off(
    own_settings: Settings, own_database: str
) -> None:
    moved = own_settings.model_copy(update={"dashboard_path": "/ops/board"})
    with running_server(moved, own_database) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            page = await http.get("/ops/board")
            script = await http.get("/ops/board/assets/app.js")
            assert (await http.get("/dashboard")).status_code == 404
    assert page.status_code == 200
    assert 'src="/ops/board/assets/app.js"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))

    off = own_settings.model_copy(update={"dashboard": False})
    with running_server(off, own_database) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/dashboard")).status_code == 404
            assert (await http.get("/dashboard/assets/app.js")).status_code == 404


@pytest.mark.parametrize("path", ["dashboard", "/dashboard/", "/graphql/board", "/"])
def test_a_dashboard_path_that_cannot_work_is_refused_naming_the_setting(path: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(dashboard_path=path)
    assert "dashboard_path" in str(refused.value)
