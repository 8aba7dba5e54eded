"""Files and receipts in a real Chromium: the widget on the demo page and the console.

The customer sends an image and a PDF from the widget; the agent sees the image inline
and the PDF as a download link, and sends a file back; each side's own lines go
sent → delivered → read as the other side's page shows them.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocket, expect
from sqlalchemy import select

from chat.models import Chat
from chat.transcripts import NewMessage
from tests.e2e.chat_pages import FILE_URL, PDF, chat_between, loaded, png
from tests.e2e.pages import PHONE, SCREENSHOTS, WAIT, Problems
from tests.support import LiveDesk
from ticketing.models import Agent

pytestmark = pytest.mark.browser


async def test_files_both_ways_and_read_receipts(desk: LiveDesk, browser: Browser) -> None:
    problems = Problems()
    chat = await chat_between(
        desk, browser, problems, customer="Ana", message="My screen cracked, photo coming"
    )
    console, visitor = chat.console, chat.visitor
    w = visitor.widget

    # The customer attaches an image and a PDF: the file input is labelled and focusable.
    picker = w.get_by_label("Attach a file")
    await picker.focus()
    await expect(picker).to_be_focused()
    await picker.set_input_files(
        {"name": "cracked-screen.png", "mimeType": "image/png", "buffer": png(320, 200)}
    )
    await picker.set_input_files(
        {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )

    # The widget shows its own image (fetched with its token) and the PDF as a link.
    await loaded(visitor.log.get_by_role("img", name="cracked-screen.png"))
    own_pdf = visitor.log.locator("a.cd-msg__file").filter(has_text="receipt.pdf")
    await expect(own_pdf).to_be_visible(timeout=WAIT)

    # The agent sees the image inline (a thumbnail linking to the full size) and the PDF
    # as a download link with its size.
    image = console.log.get_by_role("img", name="cracked-screen.png")
    await loaded(image)
    full_size = console.log.locator("a.cd-msg__image-link")
    await expect(full_size).to_have_attribute("href", FILE_URL)
    await expect(full_size).to_have_attribute("target", "_blank")
    pdf_link = console.log.locator("a.cd-msg__file").filter(has_text="receipt.pdf")
    await expect(pdf_link).to_have_attribute("href", FILE_URL)
    await expect(pdf_link).to_have_attribute("download", "receipt.pdf")
    await expect(pdf_link.locator(".cd-msg__file-size")).to_have_text(re.compile(r"\d+ B"))

    # The agent is looking at the chat: the customer's lines turn "Read".
    mine = visitor.log.locator(".cd-msg--mine .cd-msg__status")
    await expect(mine.last).to_have_text("Read", timeout=WAIT)
    await expect(mine.first).to_have_text("Read", timeout=WAIT)

    # The agent sends a file back; the customer downloads it by its name.
    agent_picker = console.pane.get_by_label("Attach a file")
    await agent_picker.set_input_files(
        {"name": "return-label.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    label = visitor.log.locator("a.cd-msg__file").filter(has_text="return-label.pdf")
    await expect(label).to_be_visible(timeout=WAIT)
    async with visitor.page.expect_download() as download_info:
        await label.click()
    download = await download_info.value
    assert download.suggested_filename == "return-label.pdf"
    saved = await download.path()
    assert saved is not None and saved.read_bytes() == PDF

    # The widget is open in front of the customer: the agent's line turns "Read".
    agent_status = console.log.locator(".cd-msg--mine .cd-msg__status")
    await expect(agent_status.last).to_have_text("Read", timeout=WAIT)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await visitor.page.screenshot(path=SCREENSHOTS / "chat-files-widget.png")
    await console.page.screenshot(path=SCREENSHOTS / "chat-files-console.png")
    await visitor.page.set_viewport_size(PHONE)  # the widget fills a phone's screen
    await expect(label).to_be_in_viewport(timeout=WAIT)
    await visitor.page.screenshot(path=SCREENSHOTS / "chat-files-widget-phone.png")
    problems.assert_none()


async def test_a_refused_file_says_why_and_stores_nothing(desk: LiveDesk, browser: Browser) -> None:
    problems = Problems()
    chat = await chat_between(desk, browser, problems, customer="Rui", message="A logo?")
    w = chat.visitor.widget
    await w.get_by_label("Attach a file").set_input_files(
        {"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": b"<svg><script/></svg>"}
    )
    mine = chat.visitor.log.locator(".cd-msg--mine").last
    await expect(mine.locator(".cd-msg__status")).to_have_text("Not sent", timeout=WAIT)
    await expect(w.locator(".cd-notice").last).to_contain_text(
        "This kind of file can't be sent", timeout=WAIT
    )
    await expect(
        chat.console.log.locator(".cd-msg__body").filter(has_text="logo.svg")
    ).to_have_count(0)
    problems.seen = [p for p in problems.seen if "415" not in p]  # the refusal itself
    problems.assert_none()


async def test_the_widget_coalesces_its_receipts(desk: LiveDesk, browser: Browser) -> None:
    """Ten lines arriving at once cost the server a couple of receipt frames, not twenty."""
    problems = Problems()
    sent: list[dict[str, object]] = []

    def watch_sockets(page: Page) -> None:
        def on_socket(socket: WebSocket) -> None:
            def on_frame(payload: str | bytes) -> None:
                frame = json.loads(payload)
                if frame.get("type") in ("delivered", "read"):
                    sent.append(frame)

            socket.on("framesent", on_frame)

        page.on("websocket", on_socket)

    async def before_start(context: BrowserContext) -> None:
        context.on("page", watch_sockets)

    chat = await chat_between(
        desk, browser, problems, customer="Lia", message="Hello", before_start=before_start
    )
    async with desk.runtime.sessions() as session:
        chat_id = await session.scalar(select(Chat.id).where(Chat.customer_name == "Lia"))
        agent = await session.scalar(select(Agent).where(Agent.name == "Bea"))
    assert chat_id is not None and agent is not None
    await chat.visitor.page.wait_for_timeout(1_000)  # the joining lines' receipts are done
    sent.clear()
    await asyncio.gather(
        *(
            desk.runtime.writer.append(
                NewMessage(chat_id, "agent", agent.id, "Bea", f"step {n}", uuid.uuid4().hex)
            )
            for n in range(10)
        )
    )
    log = chat.visitor.log
    await expect(log.locator(".cd-msg__body").filter(has_text="step 9")).to_be_visible()
    await chat.visitor.page.wait_for_timeout(1_500)
    kinds = [(f["type"], f["seq"]) for f in sent]
    assert 1 <= len(sent) <= 4, kinds
    last_seq = max(int(str(f["seq"])) for f in sent)
    async with desk.runtime.sessions() as session:
        assert last_seq == await session.scalar(select(Chat.last_seq).where(Chat.id == chat_id))
    problems.assert_none()
