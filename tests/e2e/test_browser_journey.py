"""The real pages in a real Chromium: the widget on the demo page, the agent console.

Everything here goes through what a person sees and clicks: the launcher in the demo
page's shadow root, the pre-chat form in the widget iframe, the console's login form,
offers, chat panes and the Tickets tab. Assertions are on visible text; the database
is read only to confirm what the pages claim (one stored copy of a message, the
rating). Browsers are slow, so these run on the SQLite backend only (see conftest.py).

The browser's clock is set to the desk's fake clock (a Wednesday morning), so the
offer countdowns and message times the pages compute agree with the server's.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.e2e.chat_pages import (
    STORED,
    Console,
    Link,
    Visitor,
    agent_online,
    assert_once_in_order,
    bodies,
    chat_between,
    exactly,
    stored_count,
    through_a_network_drop,
)
from tests.e2e.i18n_check import strings, untranslated
from tests.e2e.pages import LOCALES, PHONE, SCREENSHOTS, WAIT, Problems, new_context
from tests.support import LiveDesk
from tests.xss_corpus import XSS_MESSAGE, XSS_NAME, XSS_REPLY, XSS_SUBJECT
from ticketing.models import Survey, Ticket, TicketMessage, TicketStatus

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------- 1. the whole journey


async def test_the_whole_journey_through_the_real_pages(desk: LiveDesk, browser: Browser) -> None:
    problems = Problems()
    bea, password = await desk.add_agent("Bea")

    agent_context = await new_context(browser, desk)
    console = await Console.open(agent_context, desk, problems)
    page = console.page
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
    await console.log_in(bea, password)
    await expect(page.get_by_text("No open chats")).to_be_visible(timeout=WAIT)
    await console.go_online()

    customer_context = await new_context(browser, desk)
    visitor = await Visitor.open(customer_context, desk, problems)
    widget = visitor.widget
    await expect(widget.get_by_role("heading", name="Chat with us")).to_be_visible(timeout=WAIT)
    await expect(widget.locator("#header-subtitle")).to_have_text("We're online", timeout=WAIT)
    await visitor.fill_form(
        "Ana", "Hi, my invoice is wrong", email="ana@example.com", subject="Invoice question"
    )
    await visitor.start_chat()
    await expect(widget.locator("#waiting")).to_be_visible(timeout=WAIT)
    await expect(visitor.log).to_contain_text("Hi, my invoice is wrong", timeout=WAIT)

    # The agent gets the offer: who, which service, what about.
    offer = console.offer("Ana")
    await expect(offer).to_be_visible(timeout=WAIT)
    await expect(offer).to_contain_text("Support")
    await expect(offer).to_contain_text("Invoice question")
    await expect(offer.locator(".offer__countdown")).to_contain_text("left")
    await console.accept("Ana")
    await expect(console.log).to_contain_text("Hi, my invoice is wrong", timeout=WAIT)
    details = page.locator("#details-body")
    await expect(details).to_contain_text("ana@example.com", timeout=WAIT)
    await expect(details).to_contain_text("Active")

    await expect(widget.locator("#header-subtitle")).to_have_text(
        "You're chatting with Bea", timeout=WAIT
    )
    await expect(widget.locator("#waiting")).to_be_hidden(timeout=WAIT)
    await expect(visitor.log).to_contain_text("Bea joined the chat", timeout=WAIT)

    # Messages both ways, each visible on both sides.
    await console.say("Hello Ana, let me look at that invoice.")
    await expect(
        bodies(visitor.log).filter(has_text="Hello Ana, let me look at that invoice.")
    ).to_have_count(1, timeout=WAIT)
    await expect(visitor.log.locator(".cd-msg--theirs .cd-msg__author").last).to_have_text("Bea")
    mine = await visitor.say("Thanks! It's invoice 1042.")
    await expect(mine.locator(".cd-msg__status")).to_have_text(STORED, timeout=WAIT)
    await expect(bodies(console.log).filter(has_text="Thanks! It's invoice 1042.")).to_have_count(
        1, timeout=WAIT
    )
    await console.say("Fixed: you'll get a corrected invoice today.")
    await assert_once_in_order(
        visitor.log,
        [
            "Hi, my invoice is wrong",
            "Hello Ana, let me look at that invoice.",
            "Thanks! It's invoice 1042.",
            "Fixed: you'll get a corrected invoice today.",
        ],
    )

    # The agent ends it as resolved; the visitor is asked for a rating.
    await console.end_as_resolved()
    await expect(widget.get_by_role("heading", name="Chat ended")).to_be_visible(timeout=WAIT)
    await expect(widget.locator("#ended-ticket")).to_have_text(re.compile(r"^Ticket #\d+$"))
    await expect(widget.locator("#header-subtitle")).to_have_text("This chat has ended")
    await expect(widget.get_by_text("How was your chat?")).to_be_visible(timeout=WAIT)
    five = widget.get_by_role("button", name="5 out of 5: Excellent")
    await five.click()
    await expect(five).to_have_attribute("aria-pressed", "true")
    await widget.get_by_label("Comment (optional)").fill("Quick and kind")
    await widget.locator("#survey").get_by_role("button", name="Send").click()
    await expect(widget.get_by_text("Thanks for your feedback")).to_be_visible(timeout=WAIT)
    await expect(widget.locator("#survey")).to_be_hidden()

    # The Tickets tab has it, with the whole transcript and the rating.
    detail = await console.open_ticket("Invoice question")
    row = page.locator("#tickets-body tr").filter(has_text="Invoice question")
    await expect(row).to_contain_text("Resolved")
    await expect(row).to_contain_text("Ana")
    await expect(row).to_contain_text("Bea")
    thread = detail.locator(".thread__body")
    await expect(thread.first).to_have_text("Hi, my invoice is wrong", timeout=WAIT)
    for text in (
        "Hello Ana, let me look at that invoice.",
        "Thanks! It's invoice 1042.",
        "Fixed: you'll get a corrected invoice today.",
    ):
        await expect(thread.filter(has_text=exactly(text))).to_have_count(1)
    await expect(detail).to_contain_text("Rating: 5 / 5")
    await expect(detail).to_contain_text("Quick and kind")
    await expect(detail).to_contain_text("ana@example.com")

    # And the database agrees with what the pages showed.
    async with desk.runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.subject == "Invoice question"))
        assert ticket is not None
        assert ticket.status is TicketStatus.RESOLVED
        survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
        assert survey is not None and survey.rating == 5 and survey.comment == "Quick and kind"
        stored = list(
            await session.scalars(
                select(TicketMessage.body)
                .where(TicketMessage.ticket_id == ticket.id)
                .order_by(TicketMessage.id)
            )
        )
    assert stored[0] == "Hi, my invoice is wrong"
    assert "Thanks! It's invoice 1042." in stored

    problems.assert_none()


# ---------------------------------------------------------------- 2. a network drop


async def test_a_network_drop_neither_loses_nor_doubles_messages(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    link = Link()

    chat = await chat_between(
        desk,
        browser,
        problems,
        customer="Ana",
        message="My parcel hasn't arrived",
        before_start=link.install,
    )
    console, visitor = chat.console, chat.visitor
    widget = visitor.widget
    banner = widget.locator("#connection-banner")
    await expect(banner).to_be_hidden()

    # The network goes away (the browser goes offline and the socket ends with it) while
    # the agent writes and the visitor keeps typing; back online, the widget reconnects,
    # the server replays what was missed and the waiting message is sent once.
    await through_a_network_drop(
        desk,
        link,
        console,
        visitor,
        agent_lines=["Let me check with the courier.", "It left the depot this morning."],
        customer_line="Is it the red box?",
    )
    await console.say("Yes, the red box.")  # anything replayed arrives before this
    await assert_once_in_order(
        visitor.log,
        [
            "My parcel hasn't arrived",
            "Let me check with the courier.",
            "It left the depot this morning.",
            "Is it the red box?",
            "Yes, the red box.",
        ],
    )
    await assert_once_in_order(console.log, ["Is it the red box?", "Yes, the red box."])
    assert await stored_count(desk, "Is it the red box?") == 1

    # Worse: the message is stored but its ack is lost, then the socket drops. The
    # widget resends it with the same client_id; it must still appear (and be stored)
    # once.
    link.lose_downstream = True
    lost_ack = await visitor.say("Thank you!")
    await expect(bodies(console.log).filter(has_text=exactly("Thank you!"))).to_have_count(
        1, timeout=WAIT
    )
    await expect(lost_ack.locator(".cd-msg__status")).to_have_text("Sending…")
    await link.cut()
    await expect(banner).to_be_visible(timeout=WAIT)
    link.restore()
    await expect(banner).to_be_hidden(timeout=WAIT)
    await expect(lost_ack.locator(".cd-msg__status")).to_have_text(STORED, timeout=WAIT)
    await console.say("You're welcome.")
    await assert_once_in_order(
        visitor.log, ["Is it the red box?", "Yes, the red box.", "Thank you!", "You're welcome."]
    )
    await assert_once_in_order(console.log, ["Thank you!", "You're welcome."])
    assert await stored_count(desk, "Thank you!") == 1
    assert link.connections >= 3

    problems.assert_none()


# ---------------------------------------------------------------- 3. script payloads
# (the payloads live in tests/xss_corpus.py, shared with the email tests)


async def assert_no_script_ran(page: Page) -> None:
    for frame in page.frames:
        assert await frame.evaluate("() => typeof window.__xss") == "undefined", frame.url


async def test_script_payloads_are_shown_as_text(desk: LiveDesk, browser: Browser) -> None:
    problems = Problems()
    console = await agent_online(desk, browser, problems)

    customer_context = await new_context(browser, desk)
    visitor = await Visitor.open(customer_context, desk, problems)
    await visitor.fill_form(XSS_NAME, XSS_MESSAGE, subject=XSS_SUBJECT)
    await visitor.start_chat()

    # The offer shows the payloads as the text they are.
    offer = console.offer(XSS_NAME)
    await expect(offer).to_be_visible(timeout=WAIT)
    await expect(offer.locator(".offer__name")).to_have_text(XSS_NAME)
    await expect(offer.locator(".offer__subject")).to_have_text(XSS_SUBJECT)
    await console.accept(XSS_NAME)
    await expect(bodies(console.log).filter(has_text=exactly(XSS_MESSAGE))).to_have_count(
        1, timeout=WAIT
    )
    await expect(console.page.locator("#details-body .details__name")).to_have_text(XSS_NAME)
    await console.say(XSS_REPLY)
    await expect(bodies(visitor.log).filter(has_text=exactly(XSS_REPLY))).to_have_count(
        1, timeout=WAIT
    )
    await expect(bodies(visitor.log).filter(has_text=exactly(XSS_MESSAGE))).to_have_count(1)

    # The ticket shows them as text too.
    await console.end_as_resolved()
    detail = await console.open_ticket(XSS_SUBJECT)
    await expect(detail.locator(".thread__body").first).to_have_text(XSS_MESSAGE, timeout=WAIT)
    await expect(detail).to_contain_text(XSS_NAME)
    await expect(detail).to_contain_text(XSS_REPLY)

    for page in (console.page, visitor.page):
        await assert_no_script_ran(page)
    for where in (
        visitor.log,
        console.page.locator("#chat-panes"),
        console.page.locator("#offers"),
        console.page.locator("#details-body"),
        console.page.locator("#tickets-view"),
    ):
        # (The composer's own paperclip icon is the one svg that belongs there.)
        markup = where.locator("b, i, img, svg:not(.composer__attach-icon), script")
        await expect(markup).to_have_count(0)

    problems.assert_none()


# ---------------------------------------------------------------- 4. every language


async def assert_language(page: Page, lang: str, where: str) -> None:
    assert await page.evaluate("() => document.documentElement.lang") == lang, where
    assert await untranslated(page) == [], f"{where} in {lang}"


@pytest.mark.parametrize("lang", list(LOCALES))
async def test_each_language_renders_without_missing_keys(
    desk: LiveDesk, browser: Browser, lang: str
) -> None:
    problems = Problems()
    text = strings(lang)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The widget frame, told its language in the URL (as the loader does).
    bea = await desk.agent("Bea")  # online over the protocol, so the form offers a chat
    context = await new_context(browser, desk, locale=LOCALES[lang])
    page = problems.watch(await context.new_page(), f"widget {lang}")
    await page.goto(f"{desk.base_url}/widget?origin={desk.base_url}&lang={lang}")
    await expect(page.locator("#screen-form")).to_be_visible(timeout=WAIT)
    await expect(page.locator("#form-submit")).to_have_text(text["widget.start_chat"])
    await expect(page.locator("#header-title")).to_have_text(text["widget.title"])
    await assert_language(page, lang, "widget form")
    await page.screenshot(path=SCREENSHOTS / f"i18n-widget-form-{lang}.png")

    # Through a chat: queue, chat, ended and the rating prompt have their own strings.
    await page.locator("#form-name").fill("Ana")
    await page.locator("#form-message").fill("Olá / Hallo / Hello")
    await page.locator("#form-submit").click()
    await expect(page.locator("#waiting")).to_be_visible(timeout=WAIT)
    await assert_language(page, lang, "widget waiting")
    offer = await bea.next_offer()
    await bea.accept(offer["chat"]["id"])
    await expect(page.locator("#header-subtitle")).to_have_text(
        text["widget.chatting_with"].replace("{name}", "Bea"), timeout=WAIT
    )
    await bea.say(offer["chat"]["id"], "Hi Ana")
    await expect(bodies(page.locator("#log")).filter(has_text="Hi Ana")).to_have_count(
        1, timeout=WAIT
    )
    await assert_language(page, lang, "widget chat")
    await bea.end(offer["chat"]["id"])
    await expect(page.locator("#survey .cd-rating__legend")).to_have_text(
        text["rating.question"], timeout=WAIT
    )
    await assert_language(page, lang, "widget ended")
    await page.screenshot(path=SCREENSHOTS / f"i18n-widget-ended-{lang}.png")

    # The console, picking its language from the browser's (navigator.languages).
    agent, password = await desk.add_agent("Caro")
    console = await Console.open(context, desk, problems)
    await expect(console.page.locator("#login-submit")).to_have_text(text["console.sign_in"])
    await assert_language(console.page, lang, "console login")
    await console.page.screenshot(path=SCREENSHOTS / f"i18n-console-login-{lang}.png")
    await console.log_in(agent, password)
    await expect(console.page.locator("#nav-tickets")).to_have_text(text["console.nav_tickets"])
    await assert_language(console.page, lang, "console chats")
    await console.page.locator("#nav-tickets").click()
    await expect(console.page.locator("#tickets-body tr")).to_have_count(1, timeout=WAIT)
    await console.page.locator("#tickets-body tr button").click()
    await expect(console.page.locator("#ticket-detail .thread")).to_be_visible(timeout=WAIT)
    await assert_language(console.page, lang, "console tickets")
    await console.page.screenshot(path=SCREENSHOTS / f"i18n-console-tickets-{lang}.png")

    # The survey page from the email link (without a token it explains itself).
    survey = problems.watch(await context.new_page(), f"survey {lang}")
    await survey.goto(f"{desk.base_url}/survey?lang={lang}")
    await expect(survey.get_by_text(text["survey.no_token"])).to_be_visible(timeout=WAIT)
    await assert_language(survey, lang, "survey page")

    problems.assert_none()


async def test_system_lines_in_the_widget_follow_its_language(
    desk: LiveDesk, browser: Browser
) -> None:
    bea = await desk.agent("Bea")
    context = await new_context(browser, desk, locale="nl-NL")
    page = await context.new_page()
    await page.goto(f"{desk.base_url}/widget?origin={desk.base_url}&lang=nl")
    await page.locator("#form-name").fill("Ana")
    await page.locator("#form-message").fill("Hallo")
    await page.locator("#form-submit").click()
    offer = await bea.next_offer()
    await bea.accept(offer["chat"]["id"])
    system = page.locator("#log .cd-msg--system")
    await expect(system).to_have_count(1, timeout=WAIT)
    await expect(system).not_to_have_text("Bea joined the chat", timeout=1_000)


# ---------------------------------------------------------------- 5. screenshots


async def test_screenshots_of_the_widget_and_the_console(desk: LiveDesk, browser: Browser) -> None:
    problems = Problems()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console = await agent_online(desk, browser, problems)

    customer_context = await new_context(browser, desk)
    visitor = await Visitor.open(customer_context, desk, problems)
    await visitor.fill_form(
        "Ana Souza",
        "Hi! I ordered the Trailblazer in size 39 but it's a bit tight. Can I swap it for a 40?",
        email="ana@example.com",
        subject="Size exchange",
    )
    await visitor.page.screenshot(path=SCREENSHOTS / "widget-form.png")

    await visitor.start_chat()
    await expect(console.offer("Ana Souza")).to_be_visible(timeout=WAIT)
    await console.page.screenshot(path=SCREENSHOTS / "console-offer.png")
    await console.accept("Ana Souza")
    await console.say("Hi Ana! Of course. Do you still have the box and the receipt?")
    await visitor.say("Yes, both.")
    await expect(bodies(console.log).filter(has_text="Yes, both.")).to_have_count(1, timeout=WAIT)
    await console.say(
        "Great. I've started a free exchange: you'll get a return label by email within the "
        "hour, and the size 40 ships as soon as the courier scans your parcel. "
        "A-very-long-unbroken-order-reference-ACME-2026-11-25-000123456789-EXCHANGE."
    )
    await expect(bodies(visitor.log)).to_have_count(5, timeout=WAIT)  # 4 + "Bea joined"
    await visitor.page.screenshot(path=SCREENSHOTS / "widget-chat.png")
    await console.page.screenshot(path=SCREENSHOTS / "console-chat.png")

    await visitor.page.set_viewport_size(PHONE)
    await expect(visitor.page.locator("chatdesk-widget .panel")).to_have_js_property(
        "offsetWidth", PHONE["width"], timeout=WAIT
    )
    await visitor.page.screenshot(path=SCREENSHOTS / "widget-phone.png")

    await console.end_as_resolved()
    await expect(visitor.widget.locator("#survey")).to_be_visible(timeout=WAIT)
    await visitor.page.screenshot(path=SCREENSHOTS / "widget-phone-survey.png")
    await console.open_ticket("Size exchange")
    await console.page.screenshot(path=SCREENSHOTS / "console-tickets.png")

    for name in (
        "widget-form.png",
        "widget-chat.png",
        "console-chat.png",
        "console-tickets.png",
        "widget-phone.png",
    ):
        path = SCREENSHOTS / name
        assert path.stat().st_size > 5_000, f"{path} looks empty"
    problems.assert_none()
