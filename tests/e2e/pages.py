"""What every browser test shares: timeouts, screenshot folder, page-error watching,
a browser context on the desk's clock, and signing in to the console."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.support import LiveDesk
from ticketing.models import Agent

WAIT = 10_000  # ms: the longest any single step may take
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LOCALES = {"en": "en-US", "pt-BR": "pt-BR", "nl": "nl-NL"}
# Asking "who am I?" before signing in is answered 401 by design.
EXPECTED_401 = ("/api/auth/me", "/api/portal/me")


@dataclass
class Problems:
    """Uncaught exceptions and console errors of the pages we opened (frames included)."""

    seen: list[str] = field(default_factory=list)

    def watch(self, page: Page, name: str) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            url = message.location.get("url", "")
            if "401" in message.text and url.endswith(EXPECTED_401):
                return
            self.seen.append(f"{name}: console.error: {message.text} ({url})")

        page.on("pageerror", lambda error: self.seen.append(f"{name}: uncaught {error}"))
        page.on("console", on_console)
        return page

    def assert_none(self) -> None:
        assert self.seen == [], "the pages reported errors:\n" + "\n".join(self.seen)


async def new_context(browser: Browser, desk: LiveDesk, **options: Any) -> BrowserContext:
    """A fresh browser profile whose `Date` agrees with the desk's fake clock (time still flows)."""
    options.setdefault("viewport", DESKTOP)
    context = await browser.new_context(**options)
    context.set_default_timeout(WAIT)
    await context.clock.set_system_time(desk.clock.now())
    return context


async def console_login(
    context: BrowserContext, desk: LiveDesk, problems: Problems, agent: Agent, password: str
) -> Page:
    """The console at /console, signed in as `agent`, its socket connected."""
    page = problems.watch(await context.new_page(), "console")
    await page.goto(f"{desk.base_url}/console")
    await expect(page.locator("#login-form")).to_be_visible(timeout=WAIT)
    await log_in(page, agent, password)
    return page


async def log_in(page: Page, agent: Agent, password: str) -> None:
    """Fill the console's login form; done when the console's socket is connected."""
    await page.locator("#login-email").fill(agent.email)
    await page.locator("#login-password").fill(password)
    await page.locator("#login-submit").click()
    await expect(page.locator("#agent-name")).to_have_text(agent.name, timeout=WAIT)
    await expect(page.locator("#login-view")).to_be_hidden(timeout=WAIT)
    # The presence menu only works once the console's socket is up.
    await expect(page.locator("#connection-status")).to_have_attribute(
        "data-status", "connected", timeout=WAIT
    )
