"""The chat's two sides driven through their real pages, shared by the browser tests.

`Console` is an agent at /console and `Visitor` a customer using the widget on a page
that embeds it (the desk's /demo page, or a shop on another origin); `agent_online`
signs an agent in and `chat_between` brings both to an accepted chat. `Link` is the
visitor's network path to the desk's websocket, which a test can cut
(`through_a_network_drop`). The file helpers make real images and PDFs, so the
pages show and decode them the way they would a customer's. They live here, not in
one test module, so the journeys reuse one copy of each step instead of drifting apart.
"""

from __future__ import annotations

import asyncio
import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from playwright.async_api import (
    Browser,
    BrowserContext,
    FrameLocator,
    Locator,
    Page,
    WebSocketRoute,
    expect,
)
from sqlalchemy import func, select

from chat.models import ChatMessage
from tests.e2e.pages import WAIT, Problems, log_in, new_context
from tests.support import LiveDesk
from ticketing.models import Agent

# A stored message of ours: "Sent", and soon "Delivered"/"Read" as the other side's receipts come.
STORED = re.compile(r"^\s*(Sent|Delivered|Read)\s*$")
# Where a chat file is served from (what the links and images point at).
FILE_URL = re.compile(r"^/api/chats/\d+/attachments/\d+$")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def exactly(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def bodies(log: Locator) -> Locator:
    """The message bodies in a transcript (widget `#log` or a console pane's `.log`)."""
    return log.locator(".cd-msg__body")


async def assert_once_in_order(log: Locator, texts: list[str]) -> None:
    """Each text shows exactly once in the transcript, and in this order."""
    for text in texts:
        await expect(bodies(log).filter(has_text=exactly(text))).to_have_count(1, timeout=WAIT)
    shown = [body.strip() for body in await bodies(log).all_inner_texts()]
    positions = [shown.index(text) for text in texts]
    assert positions == sorted(positions), f"out of order: {texts} in {shown}"


async def stored_count(desk: LiveDesk, body: str) -> int:
    """How many chat lines with this body the database holds (a resend must not add one)."""
    async with desk.runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(ChatMessage).where(ChatMessage.body == body)
        )
    return int(count or 0)


# ---------------------------------------------------------------- files


def png(width: int, height: int) -> bytes:
    """A real PNG (a blue-to-teal gradient): what a phone screenshot looks like to us."""
    rows = b"".join(
        b"\x00"
        + b"".join(bytes((30, 90 + 120 * x // width, 200 - 60 * y // height)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def loaded(image: Locator) -> None:
    """The image is on screen and its bytes decoded (not a broken-image icon)."""
    await expect(image).to_be_visible(timeout=WAIT)
    await expect(image).to_have_js_property("complete", True, timeout=WAIT)
    for _ in range(WAIT // 100):
        if await image.evaluate("img => img.naturalWidth") > 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the image never decoded")


# ---------------------------------------------------------------- the two sides


class Console:
    """An agent at /console, driven through the page."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    async def open(cls, context: BrowserContext, desk: LiveDesk, problems: Problems) -> Console:
        page = problems.watch(await context.new_page(), "console")
        await page.goto(f"{desk.base_url}/console")
        await expect(page.locator("#login-form")).to_be_visible(timeout=WAIT)
        return cls(page)

    async def log_in(self, agent: Agent, password: str) -> None:
        await log_in(self.page, agent, password)

    async def go_online(self) -> None:
        await self.page.get_by_label("Your status").select_option("online")
        # data-status follows the server's `presence` answer, not the click.
        await expect(self.page.locator("#presence")).to_have_attribute(
            "data-status", "online", timeout=WAIT
        )

    def offer(self, customer_name: str) -> Locator:
        return self.page.locator("#offers .offer").filter(
            has=self.page.locator(".offer__name", has_text=exactly(customer_name))
        )

    async def accept(self, customer_name: str) -> None:
        offer = self.offer(customer_name)
        await expect(offer).to_be_visible(timeout=WAIT)
        await offer.get_by_role("button", name="Accept").click()
        await expect(offer).to_have_count(0, timeout=WAIT)
        await expect(self.pane.locator(".chat-pane__title")).to_have_text(
            customer_name, timeout=WAIT
        )

    @property
    def pane(self) -> Locator:
        return self.page.locator(".chat-pane:not([hidden])")

    @property
    def log(self) -> Locator:
        return self.pane.locator(".log")

    async def say(self, text: str) -> None:
        await self.pane.get_by_role("textbox", name="Reply").fill(text)
        await self.pane.get_by_role("button", name="Send", exact=True).click()
        mine = self.log.locator(".cd-msg--mine").filter(has_text=text)
        await expect(mine.locator(".cd-msg__status").last).to_have_text(STORED, timeout=WAIT)

    async def end_as_resolved(self) -> None:
        await self.pane.get_by_role("button", name="End chat").click()
        await self.pane.get_by_role("button", name="Resolved").click()
        await expect(self.pane.locator(".chat-pane__ended-text")).to_contain_text(
            "Ended — ticket #", timeout=WAIT
        )

    async def open_ticket(self, subject: str) -> Locator:
        page = self.page
        await page.get_by_role("button", name="Tickets").click()
        row = page.locator("#tickets-body tr").filter(has_text=subject)
        await expect(row).to_be_visible(timeout=WAIT)
        await row.get_by_role("button", name=subject).click()
        detail = page.locator("#ticket-detail")
        await expect(detail.locator(".ticket__title")).to_contain_text(subject, timeout=WAIT)
        return detail


class Visitor:
    """A customer on a page embedding the widget, using the widget in its iframe."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.widget: FrameLocator = page.frame_locator("chatdesk-widget iframe")

    @property
    def launcher(self) -> Locator:
        # CSS locators pierce the loader's open shadow root.
        return self.page.locator("chatdesk-widget button.launcher")

    @classmethod
    async def open(
        cls,
        context: BrowserContext,
        desk: LiveDesk,
        problems: Problems,
        url: str | None = None,
        name: str = "demo",
    ) -> Visitor:
        """Open the page (the desk's /demo unless `url` says which), then the widget's form."""
        page = problems.watch(await context.new_page(), name)
        await page.goto(url or f"{desk.base_url}/demo")
        visitor = cls(page)
        await visitor.open_launcher()
        await expect(visitor.widget.locator("#screen-form")).to_be_visible(timeout=WAIT)
        return visitor

    async def open_launcher(self) -> None:
        await expect(self.launcher).to_be_visible(timeout=WAIT)
        await self.launcher.click()
        await expect(self.launcher).to_have_attribute("aria-expanded", "true", timeout=WAIT)

    @property
    def log(self) -> Locator:
        return self.widget.locator("#log")

    async def fill_form(self, name: str, message: str, email: str = "", subject: str = "") -> None:
        w = self.widget
        await expect(w.get_by_role("button", name="Start chat")).to_be_enabled(timeout=WAIT)
        await w.get_by_label("Name", exact=True).fill(name)
        if email:
            await w.get_by_label("Email (optional)").fill(email)
        if subject:
            await w.get_by_label("Subject (optional)").fill(subject)
        await w.get_by_label("Message", exact=True).fill(message)

    async def start_chat(self) -> None:
        await self.widget.get_by_role("button", name="Start chat").click()
        await expect(self.widget.locator("#screen-chat")).to_be_visible(timeout=WAIT)

    async def say(self, text: str) -> Locator:
        box = self.widget.get_by_role("textbox", name="Your message")
        await box.fill(text)
        await box.press("Enter")
        return self.log.locator(".cd-msg--mine").filter(
            has=self.widget.locator(".cd-msg__body", has_text=exactly(text))
        )


@dataclass
class LiveChat:
    console: Console
    visitor: Visitor
    agent_context: BrowserContext
    customer_context: BrowserContext


async def agent_online(
    desk: LiveDesk, browser: Browser, problems: Problems, agent: str = "Bea"
) -> Console:
    """A new agent, signed in to the console in a browser profile of their own, online."""
    added, password = await desk.add_agent(agent)
    console = await Console.open(await new_context(browser, desk), desk, problems)
    await console.log_in(added, password)
    await console.go_online()
    return console


async def chat_between(
    desk: LiveDesk,
    browser: Browser,
    problems: Problems,
    *,
    customer: str,
    message: str,
    subject: str = "",
    agent: str = "Bea",
    before_start: Callable[[BrowserContext], Awaitable[None]] | None = None,
) -> LiveChat:
    """An agent online in the console and a visitor whose chat the agent accepted."""
    console = await agent_online(desk, browser, problems, agent)

    customer_context = await new_context(browser, desk)
    if before_start is not None:
        await before_start(customer_context)
    visitor = await Visitor.open(customer_context, desk, problems)
    await visitor.fill_form(customer, message, subject=subject)
    await visitor.start_chat()
    await console.accept(customer)
    await expect(visitor.widget.locator("#header-subtitle")).to_have_text(
        f"You're chatting with {agent}", timeout=WAIT
    )
    # The header counts the chat just accepted against the agent's capacity.
    await expect(console.page.locator("#capacity")).to_have_text(
        re.compile(r"^1 / \d+ chats$"), timeout=WAIT
    )
    return LiveChat(console, visitor, console.page.context, customer_context)


# ---------------------------------------------------------------- the network


class Link:
    """The visitor's network path to /ws/widget, which the test can cut.

    Chromium's offline emulation (`context.set_offline`) fails new requests but leaves
    open websockets connected and merely holds their frames (crbug.com/423246,
    microsoft/playwright#4910), so on its own it never exercises reconnecting. A real
    network loss ends the socket: this proxy does that (the page sees code 1006), refuses
    new connections while down, and can also lose frames on the way to the page.
    """

    def __init__(self) -> None:
        self.up = True
        self.lose_downstream = False  # frames from the server vanish (e.g. an ack)
        self.sockets: list[WebSocketRoute] = []
        self.connections = 0

    async def install(self, context: BrowserContext) -> None:
        """Route every widget socket this browser profile opens (frames included) through us."""
        await context.route_web_socket(re.compile(r"/ws/widget$"), self.route)

    async def route(self, ws: WebSocketRoute) -> None:
        if not self.up:
            await ws.close(code=1006, reason="network down")
            return
        server = ws.connect_to_server()
        server.on_message(lambda message: None if self.lose_downstream else ws.send(message))
        self.sockets.append(ws)
        self.connections += 1

    async def cut(self) -> None:
        self.up = False
        for ws in self.sockets:
            await ws.close(code=1006, reason="network down")
        self.sockets.clear()

    def restore(self) -> None:
        self.up = True
        self.lose_downstream = False


async def through_a_network_drop(
    desk: LiveDesk,
    link: Link,
    console: Console,
    visitor: Visitor,
    *,
    agent_lines: list[str],
    customer_line: str,
) -> None:
    """The visitor's network goes (browser offline, socket cut) while the agent writes
    `agent_lines` and the visitor types `customer_line`, which waits as "Sending…",
    unstored; then it comes back, the widget reconnects and the line is stored."""
    banner = visitor.widget.locator("#connection-banner")
    await visitor.page.context.set_offline(True)
    await link.cut()
    await expect(banner).to_have_text("Connection lost. Reconnecting…", timeout=WAIT)
    for line in agent_lines:
        await console.say(line)
    pending = await visitor.say(customer_line)
    await expect(pending.locator(".cd-msg__status")).to_have_text("Sending…", timeout=WAIT)
    assert await stored_count(desk, customer_line) == 0
    link.restore()
    await visitor.page.context.set_offline(False)
    await expect(banner).to_be_hidden(timeout=WAIT)
    await expect(pending.locator(".cd-msg__status")).to_have_text(STORED, timeout=WAIT)
