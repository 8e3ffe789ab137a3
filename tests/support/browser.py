"""A real browser for tests: Debian's chromium (the system's, never a downloaded one) driven
by Playwright, with every console error and uncaught exception of its pages kept."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


def missing_reason() -> str | None:
    """Why no browser test can run here, or None."""
    if not Path(CHROMIUM).exists():
        return "no chromium on this machine (apt-get install -y chromium; .ci/run installs it)"
    return None


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Tab:
    """A page, its context (for going offline) and what went wrong in it."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def open_tab(browser: Browser, url: str, width: int = 1280, height: int = 900) -> Tab:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    tab = Tab(context, page)
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    await page.goto(url)
    return tab
