"""The console's tools beside a chat, in a real Chromium: canned responses picked with
the keyboard, the customer's history, and a transfer to a named colleague.

Like the journey test, everything goes through what people see and press; the
database is only used to give the customer some history before the chat.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from chat.models import CannedResponse, Chat
from tests.e2e.chat_pages import Console, Visitor, bodies, exactly
from tests.e2e.i18n_check import untranslated
from tests.e2e.pages import SCREENSHOTS, WAIT, Problems, new_context
from tests.support import LiveDesk
from ticketing.db import transaction
from ticketing.models import Ticket, TicketOrigin, TicketStatus

pytestmark = pytest.mark.browser

REFUND = "Hi {customer_first_name}, your refund is on its way. — {agent_name}"


async def _shared_responses(desk: LiveDesk) -> None:
    """What an admin would have kept in the manager: two refund replies and another."""
    now = desk.clock.now()
    async with transaction(desk.runtime.sessions) as session:
        for shortcut, title, body in (
            ("refund", "Refund confirmed", REFUND),
            ("refund-late", "Refund delayed", "Sorry {customer_name}, the bank needs 5 days."),
            ("hello", "Greeting", "Hello, how can I help?"),
        ):
            session.add(
                CannedResponse(
                    shortcut=shortcut, title=title, body=body, created_at=now, updated_at=now
                )
            )


async def _earlier_ticket(desk: LiveDesk, customer_name: str) -> int:
    """The visitor wrote in before: a pending ticket of theirs, found by their chat."""
    async with transaction(desk.runtime.sessions) as session:
        chat = await session.scalar(select(Chat).where(Chat.customer_name == customer_name))
        assert chat is not None
        ticket = Ticket(
            subject="Order 1042 never arrived",
            service_id=chat.service_id,
            requester_id=chat.customer_id,
            status=TicketStatus.PENDING,
            origin=TicketOrigin.PORTAL,
        )
        session.add(ticket)
        await session.flush()
        return ticket.id


async def test_canned_response_history_and_transfer_to_a_colleague(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await _shared_responses(desk)
    bea, bea_password = await desk.add_agent("Bea")
    cid, cid_password = await desk.add_agent("Cid")
    await desk.add_agent("Dora")  # never signs in: offline in the picker

    bea_context = await new_context(browser, desk)
    console = await Console.open(bea_context, desk, problems)
    await console.log_in(bea, bea_password)
    await console.go_online()
    page = console.page

    customer_context = await new_context(browser, desk)
    visitor = await Visitor.open(customer_context, desk, problems)
    await visitor.fill_form("Ana Souza", "Where is my refund?", email="ana@example.com")
    await visitor.start_chat()
    await expect(console.offer("Ana Souza")).to_be_visible(timeout=WAIT)
    ticket_id = await _earlier_ticket(desk, "Ana Souza")
    await console.accept("Ana Souza")
    # The header counts the chat just accepted (it once kept the count from going online).
    await expect(page.locator("#capacity")).to_have_text("1 / 3 chats", timeout=WAIT)

    # Beside the chat: the customer's earlier ticket.
    history = page.locator("#details-body .context")
    earlier = history.get_by_role("button", name=f"Open ticket #{ticket_id}")
    await expect(earlier).to_contain_text("Order 1042 never arrived", timeout=WAIT)
    await expect(history.locator(".context__item").first).to_contain_text("Pending")
    await expect(history).to_contain_text("No earlier chats you can see.")

    # "/ref" lists the two refund replies; ↓ and ↑ move, Enter inserts the first.
    composer = console.pane.get_by_role("textbox", name="Reply")
    await composer.press_sequentially("/ref")
    picker = console.pane.get_by_role("listbox", name="Canned responses")
    options = picker.get_by_role("option")
    await expect(options).to_have_count(2, timeout=WAIT)
    await expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    await composer.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(composer).to_have_attribute(
        "aria-activedescendant", re.compile(r"^canned-\d+-\d+$")
    )
    await composer.press("ArrowUp")
    await expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    await expect(options.nth(0)).to_contain_text("Hi Ana, your refund is on its way. — Bea")
    await page.screenshot(path=SCREENSHOTS / "console-canned-picker.png")
    await composer.press("Enter")
    await expect(picker).to_be_hidden()
    filled = "Hi Ana, your refund is on its way. — Bea"
    await expect(composer).to_have_value(filled)
    await composer.press("Enter")  # the picker is closed: Enter sends
    await expect(bodies(visitor.log).filter(has_text=exactly(filled))).to_have_count(
        1, timeout=WAIT
    )
    await expect(composer).to_have_value("")

    # Escape closes the picker and leaves what was typed.
    await composer.press_sequentially("/zz")
    await expect(console.pane.get_by_role("status").filter(has_text="/zz")).to_contain_text(
        "No canned response matches /zz"
    )
    await composer.press("Escape")
    await expect(picker).to_be_hidden()
    await expect(composer).to_have_value("/zz")
    await composer.fill("")

    # Cid comes online; the transfer picker shows him first, Dora offline and disabled.
    cid_context = await new_context(browser, desk)
    colleague = await Console.open(cid_context, desk, problems)
    await colleague.log_in(cid, cid_password)
    await colleague.go_online()
    await console.pane.get_by_role("button", name="Transfer").click()
    to_colleague = console.pane.get_by_role("radiogroup", name="To a colleague")
    cid_choice = to_colleague.get_by_role("radio", name="Cid")
    await expect(cid_choice).to_be_enabled(timeout=WAIT)
    await expect(to_colleague.locator(".transfer__option").first).to_contain_text("0 of 3 chats")
    await expect(to_colleague.get_by_role("radio", name="Dora")).to_be_disabled()
    await expect(to_colleague.locator(".transfer__option").last).to_contain_text("offline")
    await page.screenshot(path=SCREENSHOTS / "console-context-transfer.png")
    await cid_choice.check()
    await console.pane.get_by_role("button", name="Transfer", exact=True).last.click()
    await expect(console.pane.locator(".chat-pane__ended-text")).to_have_text(
        "Transferred to Cid; waiting for them to accept.", timeout=WAIT
    )

    # Cid declines: Bea is told, and the chat comes back to her as an offer.
    offer = colleague.offer("Ana Souza")
    await offer.get_by_role("button", name="Decline").click()
    returned = "Cid did not take the chat; it is back in the queue."
    await expect(page.locator("#notices")).to_contain_text(returned, timeout=WAIT)
    await expect(console.pane.locator(".chat-pane__ended-text")).to_have_text(returned)
    await console.accept("Ana Souza")

    # The second time Cid takes it.
    await console.pane.get_by_role("button", name="Transfer").click()
    await console.pane.get_by_role("radio", name="Cid").check()
    await console.pane.get_by_role("button", name="Transfer", exact=True).last.click()
    await colleague.accept("Ana Souza")
    await expect(visitor.widget.locator("#header-subtitle")).to_have_text(
        "You're chatting with Cid", timeout=WAIT
    )
    await expect(bodies(colleague.log).filter(has_text=exactly(filled))).to_have_count(
        1, timeout=WAIT
    )

    # Clicking the earlier ticket opens it in the Tickets tab.
    await (
        colleague.page.locator("#details-body .context")
        .get_by_role("button", name=f"Open ticket #{ticket_id}")
        .click()
    )
    detail = colleague.page.locator("#ticket-detail")
    await expect(detail.locator(".ticket__title")).to_contain_text(
        "Order 1042 never arrived", timeout=WAIT
    )
    await colleague.page.get_by_role("button", name="Chats").click()

    # The manager: Bea adds a personal response; the shared ones are read-only for her.
    await page.get_by_role("button", name="Canned responses").click()
    dialog = page.get_by_role("dialog", name="Canned responses")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".canned-manager__item")).to_have_count(3, timeout=WAIT)
    await expect(dialog.get_by_role("button", name="Edit /refund")).to_have_count(0)
    await dialog.get_by_label("Shortcut").fill("thanks")
    await dialog.get_by_label("Title").fill("Thanks")
    await dialog.get_by_label("Text").fill("Thanks {customer_name}! <b>Not bold</b>")
    await expect(dialog.get_by_label("Shared with all agents")).to_be_hidden()
    await dialog.get_by_role("button", name="Save").click()
    mine = dialog.locator(".canned-manager__item").filter(has_text="/thanks")
    await expect(mine).to_contain_text("Thanks {customer_name}! <b>Not bold</b>", timeout=WAIT)
    # Said in the dialog itself, not behind its backdrop.
    await expect(dialog.get_by_role("status")).to_have_text("/thanks saved.")
    await dialog.get_by_label("Shortcut").fill("Bad Shortcut")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("lowercase", timeout=WAIT)
    await page.screenshot(path=SCREENSHOTS / "console-canned-manager.png")
    assert await untranslated(page) == []
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()
    problems.assert_none()
