"""Browser tests: the web app in Debian's headless Chromium, driven by Playwright for
Python (its own browser download does not work here, so it is pointed at
``/usr/bin/chromium``; ``scripts/browser.sh install`` installs it and axe-core).

Screenshots go to ``.test-output/screenshots/`` (``TEST_OUTPUT_DIR`` to move it); axe-core
runs on every page a test shoots and fails it on a serious or critical violation.
"""

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.e2e.conftest import mongo, system  # noqa: F401 - the whole system, per test

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("BROWSER_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "tools" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
OUTPUT = Path(os.environ.get("TEST_OUTPUT_DIR", ROOT / ".test-output"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # and a fresh profile, which Playwright makes for every launch
WIDTHS = {"375": (375, 812), "1280": (1280, 900)}
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by the project's script."""
    if not CHROMIUM.exists() or not AXE.exists():
        pytest.fail("Chromium or axe-core is missing: run scripts/browser.sh install")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """Chromium, headless; Playwright gives each launch a fresh, empty profile."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), args=FLAGS)
        yield browser
        await browser.close()


@dataclass
class Camera:
    """Screenshots of each page at 375 px and 1280 px, and axe-core's verdict on each."""

    folder: Path
    axe_source: str
    taken: list[Path] = field(default_factory=list)

    async def shoot(self, page: Page, name: str, axe_page: Page | None = None) -> None:
        """Both widths, then axe on the page; fails on a serious or critical violation.
        A page read without JavaScript is checked in ``axe_page`` (the same session with
        JavaScript on, where axe can run), at the same address."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for width, (w, h) in WIDTHS.items():
            await page.set_viewport_size({"width": w, "height": h})
            path = self.folder / f"{name}-{width}.png"
            await page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
        await page.set_viewport_size({"width": 1280, "height": 900})
        if axe_page is not None:
            await axe_page.goto(page.url)
        violations = await axe_violations(axe_page or page, self.axe_source)
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"{name}: {json.dumps(blocking, indent=2)}"


async def axe_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the page (its source from the project's npm folder)."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source)
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return found


@pytest.fixture(scope="session")
def camera(chromium: Path) -> Camera:
    """Where this run's screenshots go, and axe-core's source."""
    return Camera(OUTPUT / "screenshots", AXE.read_text())
