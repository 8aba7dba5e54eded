"""The issue's whole journey in one go, with the widget on a shop of ANOTHER origin.

Every other browser test loads the widget from the desk's own /demo page, where the
loader, the frame and the socket all share one origin. A real customer meets the
widget on a shop's site: the loader, its config and the frame come from the desk's
origin, the page from the shop's, and only what the desk allows (ALLOWED_ORIGINS:
CORS on the config, frame-ancestors on the frame, the websocket's Origin check) lets
it work. So this test serves a tiny shop page from a second loopback server and walks
the journey through it, in order, through the real pages only. The shop is on
`localhost`, the desk on `127.0.0.1`: other ports alone would make another origin but
the same *site*, and only another site makes the browser treat the widget's frame as
third-party (its storage partitioned or blocked), as it does on a real shop:

1. the shop (an allowed origin) shows the launcher; the same page on a third, NOT
   allowed origin gets a refusal in place of the chat, and its sockets are refused;
2. the customer fills the pre-chat form; the agent goes online in the console and
   accepts the offer;
3. messages both ways, then a file each way (a PNG shown inline to the agent, a PDF
   shown to the customer as a link that downloads);
4. the customer's network drops while the agent keeps writing and the customer types;
   it comes back and every line shows once, in order, on both sides, stored once;
5. the agent ends the chat as resolved; the customer rates it 5 with a comment;
6. the console's Tickets tab has the ticket: transcript, file lines and rating;
7. the widget's "See your tickets" opens the portal in a new tab, signed in, on the
   ticket; the panel has it awaiting her approval; she confirms it; the database and
   the console agree.

The steps depend on each other (one chat, one ticket), so they are one test; each
step has its own comment so a failure says where the journey broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from chat.models import ChatMessage
from tests.conftest import Backend
from tests.e2e.chat_pages import (
    FILE_URL,
    PDF,
    STORED,
    Link,
    Visitor,
    agent_online,
    assert_once_in_order,
    bodies,
    exactly,
    loaded,
    png,
    stored_count,
    through_a_network_drop,
)
from tests.e2e.pages import SCREENSHOTS, WAIT, Problems, new_context
from tests.support import LiveDesk, free_port, start_desk
from ticketing.models import Survey, Ticket, TicketStatus

pytestmark = pytest.mark.browser

SUBJECT = "Order 1042 never arrived"
REFUSED = "is not allowed to embed the chat"


def shop_page(desk_url: str) -> str:
    """A shop's product page: its own markup and, as README says, the one tag of the widget."""
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Trailblazer Outdoor — boots</title>
  <link rel="icon" href="data:,">
</head>
<body>
  <h1>Trailblazer Outdoor</h1>
  <p>Waterproof hiking boots, free returns for 60 days.</p>
  <script src="{desk_url}/widget.js" async data-service="1" data-lang="en"></script>
</body>
</html>"""


@asynccontextmanager
async def serve_shop(port: int, desk_url: str) -> AsyncIterator[str]:
    """The shop's own web server: another port, and `localhost`, so another site than the desk."""

    async def page(request: Request) -> Response:
        return HTMLResponse(shop_page(desk_url))

    app = Starlette(routes=[Route("/", page)])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(15):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    try:
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task


async def socket_close_code(page: Page, ws_url: str) -> int:
    """What a script on `page` gets when it opens the widget's socket: the close code."""
    return int(
        await page.evaluate(
            """url => new Promise(resolve => {
                const ws = new WebSocket(url);
                ws.onopen = () => { ws.close(); resolve(1000); };
                ws.onclose = event => resolve(event.code);
            })""",
            ws_url,
        )
    )


async def test_the_whole_journey_from_a_shop_on_another_origin(
    backend: Backend, bus_prefix: str, browser: Browser
) -> None:
    problems = Problems()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shop_port, stranger_port = free_port(), free_port()
    shop_origin = f"http://localhost:{shop_port}"
    async with (
        start_desk(
            backend.database_url, backend.redis_url, bus_prefix, allowed_origins=(shop_origin,)
        ) as desk,
        serve_shop(shop_port, desk.base_url) as shop,
        serve_shop(stranger_port, desk.base_url) as stranger,
    ):
        assert shop == shop_origin
        await the_journey(desk, browser, problems, shop, stranger)


async def the_journey(
    desk: LiveDesk, browser: Browser, problems: Problems, shop: str, stranger: str
) -> None:
    """The steps of the module docstring, in order (split out only to keep the desk's `with`)."""
    # 1. A site the desk does not know: the launcher draws (it is only a script tag), but
    # the frame is refused with a reason and a socket from that origin is refused.
    # (This page's console has the expected CORS and 403 errors: not watched.)
    strangers = await new_context(browser, desk)
    outsider = Visitor(await strangers.new_page())
    await outsider.page.goto(f"{stranger}/")
    await outsider.open_launcher()
    await expect(outsider.widget.locator("body")).to_contain_text(REFUSED, timeout=WAIT)
    await expect(outsider.widget.locator("#screen-form")).to_have_count(0)
    assert await socket_close_code(outsider.page, f"{desk.ws_url}/ws/widget") == 1006
    # Nor can it borrow the allowed shop's name: frame-ancestors stops the frame's page.
    async with (
        outsider.page.expect_console_message(lambda message: "frame-ancestors" in message.text),
        outsider.page.expect_event(
            "framenavigated", lambda frame: frame.url.startswith("chrome-error://")
        ) as refused,
    ):
        await outsider.page.evaluate(
            "src => { const f = document.createElement('iframe'); f.id = 'forged';"
            " f.src = src; document.body.appendChild(f); }",
            f"{desk.base_url}/widget?origin={shop}",
        )
    forged = await (await outsider.page.locator("#forged").element_handle()).content_frame()
    assert forged == await refused.value, "the forged frame was drawn"
    await strangers.close()

    # 2. The agent goes online; the customer opens the widget on the shop and starts a chat.
    console = await agent_online(desk, browser, problems)

    customer_context = await new_context(browser, desk)
    link = Link()  # the customer's network path to the desk's socket, cut in step 4
    await link.install(customer_context)
    visitor = await Visitor.open(customer_context, desk, problems, url=f"{shop}/", name="shop")
    widget = visitor.widget
    assert visitor.page.url == f"{shop}/"
    frame_src = await visitor.page.locator("chatdesk-widget iframe").get_attribute("src")
    assert frame_src is not None and frame_src.startswith(f"{desk.base_url}/widget?")
    # The frame talks from the desk's origin; a script of the shop itself may connect too.
    assert await socket_close_code(visitor.page, f"{desk.ws_url}/ws/widget") == 1000
    await expect(widget.locator("#header-subtitle")).to_have_text("We're online", timeout=WAIT)
    await visitor.fill_form(
        "Ana", "Hi, my order 1042 never arrived", email="ana@example.com", subject=SUBJECT
    )
    await visitor.start_chat()
    await console.accept("Ana")
    await expect(widget.locator("#header-subtitle")).to_have_text(
        "You're chatting with Bea", timeout=WAIT
    )

    # 3. Messages both ways, then a file each way.
    await console.say("Hello Ana, let me check the courier.")
    await expect(
        bodies(visitor.log).filter(has_text=exactly("Hello Ana, let me check the courier."))
    ).to_have_count(1, timeout=WAIT)
    mine = await visitor.say("Here's the photo of the empty mailbox.")
    await expect(mine.locator(".cd-msg__status")).to_have_text(STORED, timeout=WAIT)
    await widget.get_by_label("Attach a file").set_input_files(
        {"name": "mailbox.png", "mimeType": "image/png", "buffer": png(320, 200)}
    )
    await loaded(visitor.log.get_by_role("img", name="mailbox.png"))
    await loaded(console.log.get_by_role("img", name="mailbox.png"))  # inline for the agent
    await expect(console.log.locator("a.cd-msg__image-link")).to_have_attribute("href", FILE_URL)

    await console.pane.get_by_label("Attach a file").set_input_files(
        {"name": "courier-claim.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    claim = visitor.log.locator("a.cd-msg__file").filter(has_text="courier-claim.pdf")
    await expect(claim).to_be_visible(timeout=WAIT)
    await expect(claim).to_have_attribute("href", FILE_URL)
    async with visitor.page.expect_download() as download_info:
        await claim.click()
    saved = await (await download_info.value).path()
    assert saved is not None and saved.read_bytes() == PDF
    await visitor.page.screenshot(path=SCREENSHOTS / "full-journey-shop-widget.png")
    await console.page.screenshot(path=SCREENSHOTS / "full-journey-console-files.png")

    # 4. The network drops: the agent keeps writing, the customer types; then it's back.
    connections = link.connections
    await through_a_network_drop(
        desk,
        link,
        console,
        visitor,
        agent_lines=["The courier says it's at the depot.", "I've asked them to deliver tomorrow."],
        customer_line="Can they come after 5 pm?",
    )
    await console.say("Yes, between 5 and 8 pm.")  # anything replayed arrives before this
    texts = [
        "Hello Ana, let me check the courier.",
        "Here's the photo of the empty mailbox.",
        "The courier says it's at the depot.",
        "I've asked them to deliver tomorrow.",
        "Can they come after 5 pm?",
        "Yes, between 5 and 8 pm.",
    ]
    await assert_once_in_order(visitor.log, ["Hi, my order 1042 never arrived", *texts])
    await assert_once_in_order(console.log, ["Hi, my order 1042 never arrived", *texts])
    for side in (visitor.log, console.log):
        await expect(side.get_by_role("img", name="mailbox.png")).to_have_count(1)
        await expect(side.locator("a.cd-msg__file", has_text="courier-claim.pdf")).to_have_count(1)
    for text in texts:
        assert await stored_count(desk, text) == 1, text
    assert link.connections > connections  # it really reconnected

    # 5. The agent ends it as resolved; the customer rates it in the widget.
    await console.end_as_resolved()
    await expect(widget.get_by_text("How was your chat?")).to_be_visible(timeout=WAIT)
    await widget.get_by_role("button", name="5 out of 5: Excellent").click()
    await widget.get_by_label("Comment (optional)").fill("Sorted in minutes")
    await widget.locator("#survey").get_by_role("button", name="Send").click()
    await expect(widget.get_by_text("Thanks for your feedback")).to_be_visible(timeout=WAIT)

    # 6. The console's Tickets tab: the transcript, the file lines and the rating.
    detail = await console.open_ticket(SUBJECT)
    row = console.page.locator("#tickets-body tr").filter(has_text=SUBJECT)
    await expect(row.locator(".status")).to_have_text("Resolved", timeout=WAIT)
    thread = detail.locator(".thread__body")
    await expect(thread.first).to_have_text("Hi, my order 1042 never arrived", timeout=WAIT)
    for text in texts:
        await expect(thread.filter(has_text=exactly(text))).to_have_count(1)
    for name in ("mailbox.png", "courier-claim.pdf"):  # a file's line, and the file itself
        await expect(thread.filter(has_text=exactly(name))).to_have_count(1)
    await expect(detail.locator(".attachments__link")).to_have_text(
        ["mailbox.png", "courier-claim.pdf"]
    )
    await expect(detail).to_contain_text("Rating: 5 / 5")
    await expect(detail).to_contain_text("Sorted in minutes")

    # 7. "See your tickets" in the widget opens the portal in a new tab, signed in (the
    # link carries the sign-in: the frame's storage may not reach a tab of the desk's
    # own), on this ticket; her panel files it under "Resolved, awaiting my approval".
    see_tickets = widget.get_by_role("link", name="See your tickets")
    await expect(see_tickets).to_have_attribute("target", "_blank", timeout=WAIT)
    await visitor.page.screenshot(path=SCREENSHOTS / "full-journey-shop-ended.png")
    customer_context.once("page", lambda page: problems.watch(page, "portal"))
    async with customer_context.expect_page() as opened:
        await see_tickets.click()
    portal = await opened.value
    await expect(portal.locator("#portal-user")).to_be_visible(timeout=WAIT)
    await expect(portal.locator("#customer-name")).to_have_text("Ana")
    assert portal.url.startswith(f"{desk.base_url}/portal") and "signin=" not in portal.url
    await expect(portal.locator(".ticket-page__title")).to_contain_text(SUBJECT, timeout=WAIT)
    status = portal.locator(".ticket-page .status")
    await expect(status).to_have_text("Resolved, awaiting my approval", timeout=WAIT)
    await portal.locator("#ticket-view .back-link").click()
    approval = portal.locator("#tab-resolved_awaiting_approval")
    await expect(approval).to_have_attribute("aria-selected", "true", timeout=WAIT)
    await expect(portal.locator('[data-count="resolved_awaiting_approval"]')).to_have_text("1")
    await portal.get_by_role("link", name=SUBJECT).click()
    await expect(status).to_have_text("Resolved, awaiting my approval", timeout=WAIT)
    await portal.get_by_role("button", name="Confirm it's solved").click()
    await expect(status).to_have_text("Concluded", timeout=WAIT)
    await expect(portal.locator(".rated")).to_contain_text("Your rating: 5 / 5")
    await expect(portal.locator(".attachments__link")).to_have_text(
        ["mailbox.png", "courier-claim.pdf"]
    )
    # Rated in the widget already, so nothing is left to rate.
    await expect(portal.locator('[data-count="not_yet_rated"]')).to_have_text("0", timeout=WAIT)
    await portal.screenshot(path=SCREENSHOTS / "full-journey-portal-confirmed.png", full_page=True)

    async with desk.runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.subject == SUBJECT))
        assert ticket is not None
        assert ticket.status is TicketStatus.CLOSED and ticket.close_reason == "approved"
        survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
        assert survey is not None and survey.rating == 5 and survey.comment == "Sorted in minutes"
        files = list(
            await session.scalars(
                select(ChatMessage.body).where(
                    ChatMessage.chat_id == ticket.chat_id, ChatMessage.attachment_id.is_not(None)
                )
            )
        )
    assert sorted(files) == ["courier-claim.pdf", "mailbox.png"], files

    # The Tickets list is not live: the agent refreshes it, as the console offers.
    await console.page.bring_to_front()
    await console.page.locator("#tickets-refresh").click()
    await expect(row.locator(".status")).to_have_text("Closed", timeout=WAIT)
    await row.get_by_role("button", name=SUBJECT).click()
    await expect(detail.locator(".ticket__badges .status")).to_have_text("Closed", timeout=WAIT)

    # Checked while the desk still runs: stopping it makes the open pages' reconnects fail.
    problems.assert_none()
    for context in (console.page.context, customer_context):
        await context.close()


async def test_a_reload_of_the_shop_page_resumes_the_same_chat(
    backend: Backend, bus_prefix: str, browser: Browser
) -> None:
    """On a shop of another site the browser gives the widget's frame no storage, so the
    loader keeps the customer's token in the shop's own storage: after a reload (or on
    the shop's next page) the widget resumes the same chat instead of a blank form."""
    problems = Problems()
    shop_port = free_port()
    shop_origin = f"http://localhost:{shop_port}"
    async with (
        start_desk(
            backend.database_url, backend.redis_url, bus_prefix, allowed_origins=(shop_origin,)
        ) as desk,
        serve_shop(shop_port, desk.base_url) as shop,
    ):
        console = await agent_online(desk, browser, problems)

        customer_context = await new_context(browser, desk)
        visitor = await Visitor.open(customer_context, desk, problems, url=f"{shop}/", name="shop")
        await visitor.fill_form("Ana", "Where is my parcel?")
        await visitor.start_chat()
        await console.accept("Ana")
        await console.say("Let me check, Ana.")
        await expect(bodies(visitor.log).filter(has_text="Let me check, Ana.")).to_have_count(
            1, timeout=WAIT
        )
        stored = await visitor.page.evaluate("() => localStorage.getItem('chatdesk.token')")
        assert stored, "the loader kept no token in the shop's storage"

        await visitor.page.reload()
        await visitor.open_launcher()
        await expect(visitor.widget.locator("#header-subtitle")).to_have_text(
            "You're chatting with Bea", timeout=WAIT
        )
        await assert_once_in_order(visitor.log, ["Where is my parcel?", "Let me check, Ana."])
        await visitor.say("Thanks, still here after the reload.")
        await expect(
            bodies(console.log).filter(has_text="Thanks, still here after the reload.")
        ).to_have_count(1, timeout=WAIT)
        async with desk.runtime.sessions() as session:
            chats = set(await session.scalars(select(ChatMessage.chat_id)))
        assert len(chats) == 1, "the reload started a second chat"
        problems.assert_none()
