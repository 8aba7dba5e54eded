"""Browser tests: a real Chromium (Debian's, driven by Playwright) against a live desk.

They run on the SQLite backend only: they are slow, and the storage backends are
covered by the rest of the suite. No markers are registered here (pyproject.toml has
`browser`); this file only narrows `backend` and provides the browser.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Error, async_playwright

from tests.conftest import Backend

CHROMIUM = Path("/usr/bin/chromium")
FAILURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "failures"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]


@pytest.fixture(params=["sqlite+memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Backend:
    """Overrides the suite's two-backend fixture: browser tests use SQLite only."""
    path = tmp_path / "desk.db"
    shutil.copy(sqlite_template, path)
    return Backend(request.param, f"sqlite+aiosqlite:///{path}", None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the test, so fixtures can tell it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


async def _save_failure_screenshots(browser: Browser, test_name: str) -> None:
    """What every open page showed when the test failed: test-artifacts/failures/."""
    FAILURES.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", test_name)
    for c, context in enumerate(browser.contexts):
        for p, page in enumerate(context.pages):
            try:
                await page.screenshot(path=FAILURES / f"{stem}-{c}-{p}.png", timeout=5_000)
            except Error:
                pass  # a crashed or closed page: nothing to show


@pytest.fixture
async def browser(request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        reason = "Chromium not installed: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: browser tests must run)")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                await _save_failure_screenshots(browser, request.node.name)
        finally:
            await browser.close()
