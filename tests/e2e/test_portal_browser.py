"""The customer portal and the console's ticket work, through the real pages in Chromium.

A customer who chatted before (the widget's identity is in this browser's storage)
opens /portal, files a ticket with a file attached; an agent answers it in the
console's Tickets tab — an internal note and a public reply that resolves it; the
customer sees the reply (never the note), confirms the resolution and rates it. And
an agent presses Alt+T anywhere in the console to open a ticket for a customer.
Assertions are on what people see; the database only confirms what the pages claim.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from tests.e2e.i18n_check import strings, untranslated
from tests.e2e.pages import (
    LOCALES,
    SCREENSHOTS,
    WAIT,
    Problems,
    console_login,
    new_context,
)
from tests.support import LiveDesk
from ticketing.db import transaction
from ticketing.models import (
    Agent,
    Attachment,
    Category,
    Customer,
    Organization,
    OrganizationContact,
    Survey,
    Ticket,
    TicketMessage,
    TicketStatus,
)

pytestmark = pytest.mark.browser


async def open_portal(
    context: BrowserContext, desk: LiveDesk, problems: Problems, token: str
) -> Page:
    """The portal in a browser where the widget already stored this customer's identity."""
    page = problems.watch(await context.new_page(), "portal")
    # localStorage belongs to the origin: the first visit finds no identity and says
    # how to get one; with the widget's token in place, a reload signs in by itself.
    await page.goto(f"{desk.base_url}/portal")
    await expect(page.locator("#signed-out-view")).to_be_visible(timeout=WAIT)
    await page.evaluate("token => localStorage.setItem('chatdesk.token', token)", token)
    await page.reload()
    await expect(page.locator("#portal-user")).to_be_visible(timeout=WAIT)
    return page


def tab(page: Page, view: str) -> Any:
    return page.locator(f"#tab-{view}")


async def expect_count(page: Page, view: str, count: int) -> None:
    await expect(page.locator(f'[data-count="{view}"]')).to_have_text(str(count), timeout=WAIT)


# ---------------------------------------------------------------- the whole round trip


async def test_a_portal_ticket_is_resolved_in_the_console_then_confirmed_and_rated(
    desk: LiveDesk, browser: Browser, tmp_path: Path
) -> None:
    problems = Problems()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    customer = await desk.customer()  # the widget said hello once: an identity exists
    assert customer.token
    agent, password = await desk.add_agent("Bea")
    context = await new_context(browser, desk)

    # 1. The customer opens a ticket from the portal, with a file.
    portal = await open_portal(context, desk, problems, customer.token)
    await expect_count(portal, "all", 0)
    await portal.get_by_role("link", name="New ticket").first.click()
    await expect(portal.locator("#new-view")).to_be_visible()
    await portal.get_by_label("Service").select_option(label="Support")
    await portal.get_by_label("Request type").select_option("fault")
    await portal.locator("#pt-cc").fill("boss@example.com,")
    await expect(portal.locator("#pt-cc-field .chips__chip")).to_have_text(
        re.compile("boss@example.com")
    )
    await portal.get_by_label("Subject").fill("Export to CSV times out")
    await portal.get_by_label("Message").fill("The monthly export fails after 30 seconds.")
    log = tmp_path / "export-log.txt"
    log.write_text("timeout after 30000 ms\n")
    await portal.locator("#pt-file").set_input_files(str(log))
    await portal.get_by_role("button", name="Send ticket").click()
    title = portal.locator(".ticket-page__title")
    await expect(title).to_contain_text("Export to CSV times out", timeout=WAIT)
    await expect(portal.locator(".attachments__link")).to_have_text("export-log.txt", timeout=WAIT)
    await expect(portal.locator(".ticket-page .status")).to_have_text("Received")
    ticket_id = int(re.search(r"#/ticket/(\d+)", portal.url).group(1))  # type: ignore[union-attr]

    # The panel counts it as waiting for the desk.
    await portal.locator("#ticket-view .back-link").click()
    await expect_count(portal, "awaiting_return", 1)
    await expect_count(portal, "all", 1)
    await tab(portal, "awaiting_return").click()
    await expect(portal.locator("#portal-tickets tr")).to_have_count(1)
    await expect(portal.locator("#portal-tickets tr")).to_contain_text(f"#{ticket_id}")
    await portal.screenshot(path=SCREENSHOTS / "portal-panel.png")

    # 2. The agent writes an internal note, then a public reply that resolves it.
    console = await console_login(context, desk, problems, agent, password)
    await console.locator("#nav-tickets").click()
    row = console.locator("#tickets-body tr").filter(has_text="Export to CSV times out")
    await expect(row).to_be_visible(timeout=WAIT)
    await expect(row.locator(".sla")).to_have_text(re.compile(r"^Due "))
    await row.get_by_role("button", name="Export to CSV times out").click()
    detail = console.locator("#ticket-detail")
    await expect(detail.locator(".ticket__title")).to_contain_text("Export to CSV times out")
    await expect(detail.locator('.sla-clock[data-clock="pickup"]')).to_contain_text("left")
    await expect(detail.locator(".attachments__link")).to_have_text("export-log.txt")

    await detail.locator("input[type=radio][value=internal]").check()
    await detail.locator(".reply__body").fill("Probably the 30 s proxy limit.")
    await detail.get_by_role("button", name="Add note").click()
    note = detail.locator(".thread__item--internal")
    await expect(note).to_contain_text("Probably the 30 s proxy limit.", timeout=WAIT)
    await expect(note.locator(".tag--internal")).to_have_text("Internal note")

    await detail.locator("input[type=radio][value=public]").check()
    await detail.locator(".reply__body").fill("Fixed: exports now run in the background.")
    await detail.get_by_label("Then set status").select_option("resolved")
    await detail.get_by_role("button", name="Send reply").click()
    await expect(detail.locator(".ticket__badges .status")).to_have_text("Resolved", timeout=WAIT)
    await expect(detail.locator(".reply__body")).to_have_value("")  # sent, so not kept as a draft
    await expect(row.locator(".status")).to_have_text("Resolved", timeout=WAIT)
    await expect(detail.locator('.sla-clock[data-clock="resolution"]')).to_have_attribute(
        "data-state", "met"
    )
    await console.screenshot(path=SCREENSHOTS / "console-ticket-resolved.png")

    # 3. The customer sees the reply (never the note), confirms and rates.
    await portal.bring_to_front()
    await portal.goto(f"{desk.base_url}/portal#/view/resolved_awaiting_approval")
    await expect_count(portal, "resolved_awaiting_approval", 1)
    await portal.get_by_role("link", name="Export to CSV times out").click()
    thread = portal.locator(".thread__body")
    await expect(thread.filter(has_text="Fixed: exports now run in the background.")).to_have_count(
        1, timeout=WAIT
    )
    await expect(portal.locator(".ticket-page")).not_to_contain_text("proxy limit")
    await expect(portal.locator(".thread__item--internal")).to_have_count(0)
    await portal.get_by_role("button", name="Confirm it's solved").click()
    await expect(portal.locator(".ticket-page .status")).to_have_text("Concluded", timeout=WAIT)
    await expect(portal.locator(".reply")).to_have_count(0)  # closed: no more replies
    await expect_count(portal, "not_yet_rated", 1)
    await portal.locator('.cd-rating__option[data-rating="4"]').click()
    await portal.get_by_label("Comment (optional)").fill("Quick fix, thanks")
    await portal.locator(".cd-rating").get_by_role("button", name="Send").click()
    await expect(portal.locator(".rated")).to_contain_text("Your rating: 4 / 5", timeout=WAIT)
    await expect_count(portal, "not_yet_rated", 0)
    await portal.screenshot(path=SCREENSHOTS / "portal-ticket-rated.png", full_page=True)

    # 4. The database agrees with what the pages showed.
    async with desk.runtime.sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        assert ticket.status is TicketStatus.CLOSED and ticket.close_reason == "approved"
        assert ticket.cc == ["boss@example.com"] and ticket.request_type is not None
        survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
        assert survey is not None and survey.rating == 4 and survey.comment == "Quick fix, thanks"
        notes = await session.scalars(
            select(TicketMessage.body).where(
                TicketMessage.ticket_id == ticket_id, TicketMessage.internal.is_(True)
            )
        )
        assert list(notes) == ["Probably the 30 s proxy limit."]
        files = list(
            await session.scalars(select(Attachment).where(Attachment.ticket_id == ticket_id))
        )
        assert [f.filename for f in files] == ["export-log.txt"]
    problems.assert_none()


async def test_the_customer_answers_and_reopens_from_the_portal(
    desk: LiveDesk, browser: Browser
) -> None:
    """Tecnospeed's views follow the ticket: awaiting my response → awaiting return, and a
    resolution the customer disagrees with is reopened."""
    problems = Problems()
    async with transaction(desk.runtime.sessions) as session:
        ana = Customer(name="Ana", email="ana@example.com")
        session.add(ana)
    agent, password = await desk.add_agent("Bea")
    async with await agent_api(desk, agent, password) as http:
        created = await http.post(
            "/api/tickets",
            json={
                "requester_email": "ana@example.com",
                "service_id": 1,
                "subject": "Order 5531 arrived damaged",
                "message": "Ana phoned: the box was crushed.",
                "assign_to_me": True,
            },
        )
        ticket_id = created.json()["id"]
        asked = await http.post(
            f"/api/tickets/{ticket_id}/replies",
            json={"body": "Could you send a photo of the shoes?", "status": "pending"},
        )
        assert asked.status_code == 200, asked.text

    context = await new_context(browser, desk)
    portal = await open_portal(
        context, desk, problems, desk.runtime.tokens.issue(ana.id, desk.origin)
    )
    # The panel opens on the first view that holds something: hers to answer.
    await expect(tab(portal, "awaiting_my_response")).to_have_attribute("aria-selected", "true")
    await expect_count(portal, "awaiting_my_response", 1)
    await portal.get_by_role("link", name="Order 5531 arrived damaged").click()
    await expect(portal.locator(".callout")).to_contain_text("waiting for your answer")
    await portal.get_by_label("Your reply").fill("The left shoe is torn; photo follows.")
    await portal.get_by_role("button", name="Send", exact=True).click()
    await expect(portal.locator(".ticket-page .status")).to_have_text(
        "Awaiting return", timeout=WAIT
    )
    await expect(portal.locator(".thread__body").last).to_have_text(
        "The left shoe is torn; photo follows."
    )
    await expect(portal.locator(".reply__body")).to_have_value("")
    await expect_count(portal, "awaiting_my_response", 0)
    await expect_count(portal, "awaiting_return", 1)

    async with await agent_api(desk, agent, password) as http:
        resolved = await http.post(
            f"/api/tickets/{ticket_id}/replies",
            json={"body": "A new pair is on its way.", "status": "resolved"},
        )
        assert resolved.status_code == 200, resolved.text
    await portal.reload()
    await expect(portal.locator(".ticket-page .status")).to_have_text(
        "Resolved, awaiting my approval", timeout=WAIT
    )
    await portal.get_by_role("button", name="Reopen").click()
    await expect(portal.locator(".ticket-page .status")).to_have_text(
        "Awaiting return", timeout=WAIT
    )
    async with desk.runtime.sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.OPEN
    problems.assert_none()


# ---------------------------------------------------------------- approval and categories


async def test_a_designated_contact_approves_a_colleagues_ticket(
    desk: LiveDesk, browser: Browser
) -> None:
    """AllSolutions: a non-contact's ticket waits until a designated contact approves it."""
    problems = Problems()
    async with transaction(desk.runtime.sessions) as session:
        acme = Organization(name="Acme", domain="acme.test", requires_approval=True)
        carla = Customer(name="Carla", email="carla@acme.test")
        dan = Customer(name="Dan", email="dan@acme.test")
        session.add_all([acme, carla, dan, Category(service_id=1, name="Invoices")])
        await session.flush()
        session.add(OrganizationContact(organization_id=acme.id, customer_id=carla.id))
    tokens = desk.runtime.tokens

    # Dan files a ticket; Support has categories, so one must be chosen.
    dans = await new_context(browser, desk)
    portal = await open_portal(dans, desk, problems, tokens.issue(dan.id, desk.origin))
    await expect(portal.locator("#customer-name")).to_have_text("Dan")
    await portal.locator("#new-ticket-link").click()
    await portal.get_by_label("Service").select_option(label="Support")
    category = portal.get_by_label("Category")
    await expect(category).to_be_visible(timeout=WAIT)
    await portal.get_by_label("Subject").fill("New laptop for the intern")
    await portal.get_by_label("Message").fill("Please order one.")
    await portal.get_by_role("button", name="Send ticket").click()
    await expect(portal.locator("#pt-error")).to_have_text("Choose a category.")
    await category.select_option(label="Invoices")
    await portal.get_by_role("button", name="Send ticket").click()
    await expect(portal.locator(".ticket-page .status")).to_have_text(
        "Awaiting approval", timeout=WAIT
    )
    await expect(portal.locator(".callout")).to_contain_text("designated contact")
    await expect(portal.get_by_role("button", name="Approve")).to_have_count(0)

    # Carla, a designated contact, sees it among her organization's tickets and approves it.
    carlas = await new_context(browser, desk)
    portal = await open_portal(carlas, desk, problems, tokens.issue(carla.id, desk.origin))
    await expect_count(portal, "all", 1)
    await tab(portal, "all").click()
    await portal.get_by_role("link", name="New laptop for the intern").click()
    await expect(portal.locator(".callout")).to_contain_text("Dan opened this ticket")
    await portal.get_by_role("button", name="Approve").click()
    await expect(portal.locator(".ticket-page .status")).to_have_text("Received", timeout=WAIT)
    await expect(portal.get_by_role("button", name="Approve")).to_have_count(0)

    async with desk.runtime.sessions() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.subject == "New laptop for the intern")
        )
        assert ticket is not None and not ticket.awaiting_approval
        assert ticket.category_id is not None and ticket.requester_id == dan.id
        assert ticket.cc == ["carla@acme.test"]  # designated contacts are copied
    problems.assert_none()


# ---------------------------------------------------------------- Alt+T


async def agent_api(desk: LiveDesk, agent: Agent, password: str) -> httpx.AsyncClient:
    cookies = await desk.login(agent, password)
    return httpx.AsyncClient(
        base_url=desk.base_url,
        cookies=cookies,
        headers={"X-CSRF-Token": cookies["chatdesk_csrf"]},
    )


async def test_alt_t_opens_the_new_ticket_dialog_and_creates_a_ticket(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    agent, password = await desk.add_agent("Bea")
    # Eva asked something before: her address is one the console can complete.
    async with await agent_api(desk, agent, password) as http:
        earlier = await http.post(
            "/api/tickets",
            json={
                "requester_email": "eva@bedrijf.nl",
                "requester_name": "Eva de Vries",
                "service_id": 1,
                "subject": "Factuur klopt niet",
                "message": "Het btw-bedrag is verkeerd.",
            },
        )
        assert earlier.status_code == 201, earlier.text

    context = await new_context(browser, desk)
    console = await console_login(context, desk, problems, agent, password)
    # Alt+T works from the Chats tab too.
    await console.keyboard.press("Alt+t")
    dialog = console.locator("#new-ticket-dialog")
    await expect(dialog).to_be_visible(timeout=WAIT)
    await expect(console.locator("#nt-email")).to_be_focused()
    await expect(console.locator('#known-emails option[value="eva@bedrijf.nl"]')).to_have_count(
        1, timeout=WAIT
    )
    await console.locator("#nt-email").fill("eva@bedrijf.nl")
    await console.locator("#nt-email").dispatch_event("change")
    await expect(console.locator("#nt-name")).to_have_value("Eva de Vries")
    await dialog.get_by_label("Service").select_option(label="Billing")
    await dialog.get_by_label("Priority").select_option("P2")
    await console.locator("#nt-cc").fill("finance@bedrijf.nl")
    await console.locator("#nt-cc").press("Enter")
    await expect(dialog.locator(".chips__chip")).to_contain_text("finance@bedrijf.nl")
    await dialog.get_by_label("Subject").fill("Credit note for invoice 2210")
    await dialog.get_by_label("Message").fill("Eva called: she needs a credit note.")
    await console.screenshot(path=SCREENSHOTS / "console-new-ticket-dialog.png")
    await dialog.get_by_role("button", name="Send ticket").click()

    await expect(dialog).to_be_hidden(timeout=WAIT)
    await expect(console.locator("#tickets-view")).to_be_visible()
    detail = console.locator("#ticket-detail")
    await expect(detail.locator(".ticket__title")).to_contain_text(
        "Credit note for invoice 2210", timeout=WAIT
    )
    await expect(detail).to_contain_text("eva@bedrijf.nl")
    await expect(detail).to_contain_text("finance@bedrijf.nl")
    row = console.locator("#tickets-body tr").filter(has_text="Credit note for invoice 2210")
    await expect(row).to_contain_text("Eva de Vries")
    await expect(row).to_contain_text("Bea")  # "Assign to me" was on

    async with desk.runtime.sessions() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.subject == "Credit note for invoice 2210")
        )
        assert ticket is not None
        assert ticket.priority.value == "P2" and ticket.agent_id == agent.id
        assert ticket.cc == ["finance@bedrijf.nl"] and ticket.service_id == 3
    problems.assert_none()


# ---------------------------------------------------------------- filters, bulk, status


async def test_filters_bulk_changes_and_closing_with_a_reason(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    agent, password = await desk.add_agent("Bea")
    async with await agent_api(desk, agent, password) as http:
        for subject, priority in (("Printer on fire", "P1"), ("Typo on the website", "P5")):
            created = await http.post(
                "/api/tickets",
                json={
                    "requester_email": "li@example.org",
                    "service_id": 1,
                    "subject": subject,
                    "message": "Details follow.",
                    "priority": priority,
                },
            )
            assert created.status_code == 201, created.text

    context = await new_context(browser, desk)
    console = await console_login(context, desk, problems, agent, password)
    await console.locator("#nav-tickets").click()
    rows = console.locator("#tickets-body tr")
    await expect(rows).to_have_count(2, timeout=WAIT)

    # Filters: priority, then text search.
    await console.locator("#filter-priority").select_option("P1")
    await expect(rows).to_have_count(1, timeout=WAIT)
    await expect(rows).to_contain_text("Printer on fire")
    await console.get_by_role("button", name="Clear filters").click()
    await expect(rows).to_have_count(2, timeout=WAIT)
    await console.locator("#filter-q").fill("typo")
    await expect(rows).to_have_count(1, timeout=WAIT)
    await console.get_by_role("button", name="Clear filters").click()
    await expect(rows).to_have_count(2, timeout=WAIT)

    # Bulk: both to me, priority P2.
    await console.locator("#tickets-select-all").check()
    await expect(console.locator("#bulk-count")).to_have_text("2 selected")
    await console.locator("#bulk-assign").select_option("me")
    await console.locator("#bulk-priority").select_option("P2")
    await console.locator("#bulk-apply").click()
    await expect(console.locator("#tickets-bulk")).to_be_hidden(timeout=WAIT)
    for index in range(2):
        await expect(rows.nth(index)).to_contain_text("Bea", timeout=WAIT)
        await expect(rows.nth(index).locator(".priority")).to_have_text("P2")
    await console.locator("#filter-assignee").select_option("me")
    await expect(rows).to_have_count(2, timeout=WAIT)
    await console.locator("#filter-assignee").select_option("unassigned")
    await expect(console.locator("#tickets-empty")).to_be_visible(timeout=WAIT)
    await console.locator("#filter-assignee").select_option("")

    # Closing asks for one of the reasons the server allows.
    await rows.filter(has_text="Typo on the website").get_by_role("button").click()
    detail = console.locator("#ticket-detail")
    await expect(detail.locator(".ticket__title")).to_contain_text("Typo on the website")
    status = detail.get_by_label("Status", exact=True)
    await status.select_option("closed")
    reason = detail.get_by_label("Close reason")
    await expect(reason).to_be_visible()
    await reason.select_option("duplicate")
    await detail.get_by_role("button", name="Apply").click()
    await expect(detail.locator(".ticket__badges .status")).to_have_text("Closed", timeout=WAIT)
    await expect(detail).to_contain_text("This ticket is closed; its status can't change any more.")
    await detail.locator("summary", has_text="History").click()
    await expect(detail.locator(".history")).to_contain_text("Status: Open → Closed")
    async with desk.runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.subject == "Typo on the website"))
        assert ticket is not None and ticket.close_reason == "duplicate"
    problems.assert_none()


async def test_fields_files_and_merge_in_the_console(
    desk: LiveDesk, browser: Browser, tmp_path: Path
) -> None:
    problems = Problems()
    agent, password = await desk.add_agent("Bea")
    async with await agent_api(desk, agent, password) as http:
        for subject in ("Invoice 1042 is wrong", "Invoice 1042 again"):
            created = await http.post(
                "/api/tickets",
                json={
                    "requester_email": "li@example.org",
                    "service_id": 1,
                    "subject": subject,
                    "message": "The VAT is wrong.",
                    "assign_to_me": True,
                },
            )
            assert created.status_code == 201, created.text
        listed = (await http.get("/api/tickets")).json()["items"]
        first_id = next(t["id"] for t in listed if t["subject"] == "Invoice 1042 is wrong")

    context = await new_context(browser, desk)
    console = await console_login(context, desk, problems, agent, password)
    await console.locator("#nav-tickets").click()
    rows = console.locator("#tickets-body tr")
    await rows.filter(has_text="Invoice 1042 again").get_by_role("button").click()
    detail = console.locator("#ticket-detail")
    await expect(detail.locator(".ticket__title")).to_contain_text("Invoice 1042 again")

    # Priority, tags and CC.
    await detail.locator("summary", has_text="Priority, category").click()
    await detail.get_by_label("Priority", exact=True).select_option("P2")
    await detail.get_by_label("Tags").fill("billing, VAT")
    await detail.get_by_label("CC").fill("boss@example.org")
    await detail.get_by_role("button", name="Save").click()
    await expect(detail.locator(".ticket__badges .priority")).to_have_text(
        "P2 · Critical", timeout=WAIT
    )
    await expect(detail.locator(".ticket__meta")).to_contain_text("billing, vat")
    await expect(detail.locator(".ticket__meta")).to_contain_text("boss@example.org")
    await console.locator("#filter-tag").fill("vat")
    await expect(rows).to_have_count(1, timeout=WAIT)
    await console.get_by_role("button", name="Clear filters").click()
    await expect(rows).to_have_count(2, timeout=WAIT)

    # A file.
    screenshot = tmp_path / "vat.txt"
    screenshot.write_text("21% instead of 9%\n")
    await detail.locator("input[type=file]").set_input_files(str(screenshot))
    await detail.get_by_role("button", name="Upload").click()
    await expect(detail.locator(".attachments__link")).to_have_text("vat.txt", timeout=WAIT)

    # Unassign, then take it back.
    await detail.get_by_role("button", name="Unassign").click()
    await expect(detail.locator(".ticket-action__value")).to_have_text("Unassigned", timeout=WAIT)
    await detail.get_by_role("button", name="Assign to me").click()
    await expect(detail.locator(".ticket-action__value")).to_have_text("Bea", timeout=WAIT)

    # Merge it into the first one (after a confirmation).
    console.once("dialog", lambda dialog: dialog.accept())
    await detail.locator("summary", has_text="Merge into another ticket").click()
    await detail.get_by_label("Into ticket no.").fill(str(first_id))
    await detail.get_by_role("button", name="Merge", exact=True).click()
    await expect(detail.locator(".ticket__badges .status")).to_have_text("Closed", timeout=WAIT)
    await expect(detail.locator(".ticket__badges")).to_contain_text(f"Merged into #{first_id}")
    await detail.locator("summary", has_text="History").click()
    await expect(detail.locator(".history")).to_contain_text("Priority: P3 · Major → P2 · Critical")
    await expect(detail.locator(".history")).to_contain_text("Assignee: Bea → —")
    await rows.filter(has_text="Invoice 1042 is wrong").get_by_role("button").click()
    await expect(detail.locator(".thread__item--internal")).to_contain_text(
        "was merged into this ticket", timeout=WAIT
    )
    await expect(
        detail.locator(".thread__body").filter(has_text="The VAT is wrong.")
    ).to_have_count(2)
    problems.assert_none()


# ---------------------------------------------------------------- every language


async def assert_language(page: Page, lang: str, where: str) -> None:
    assert await page.evaluate("() => document.documentElement.lang") == lang, where
    assert await untranslated(page) == [], f"{where} in {lang}"


@pytest.mark.parametrize("lang", list(LOCALES))
async def test_the_portal_and_the_tickets_tab_in_each_language(
    desk: LiveDesk, browser: Browser, lang: str
) -> None:
    problems = Problems()
    text = strings(lang)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    customer = await desk.customer()
    agent, password = await desk.add_agent("Caro")
    context = await new_context(browser, desk, locale=LOCALES[lang])

    portal = await open_portal(context, desk, problems, customer.token or "")
    await expect(tab(portal, "awaiting_my_response")).to_contain_text(
        text["portal.view.awaiting_my_response"]
    )
    await assert_language(portal, lang, "portal panel")
    await portal.locator("#new-ticket-link").click()
    await expect(portal.locator("#new-view")).to_be_visible()
    await assert_language(portal, lang, "portal new ticket")
    await portal.locator("#pt-service").select_option(index=1)
    await portal.locator("#pt-subject").fill("Olá / Hallo")
    await portal.locator("#pt-message").fill("…")
    await portal.locator("#pt-submit").click()
    await expect(portal.locator(".ticket-page__title")).to_be_visible(timeout=WAIT)
    await assert_language(portal, lang, "portal ticket")
    await portal.screenshot(path=SCREENSHOTS / f"i18n-portal-ticket-{lang}.png")

    console = await console_login(context, desk, problems, agent, password)
    await console.locator("#nav-tickets").click()
    await console.locator("#tickets-body tr button").click()
    await expect(console.locator("#ticket-detail .thread")).to_be_visible(timeout=WAIT)
    for summary in await console.locator("#ticket-detail summary").all():
        await summary.click()
    await console.keyboard.press("Alt+t")
    await expect(console.locator("#new-ticket-dialog")).to_be_visible()
    await assert_language(console, lang, "console tickets and the new-ticket dialog")
    await console.screenshot(path=SCREENSHOTS / f"i18n-console-new-ticket-{lang}.png")
    problems.assert_none()


async def test_without_the_widgets_identity_the_portal_explains_how_to_get_in(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    context = await new_context(browser, desk)
    page = problems.watch(await context.new_page(), "portal")
    response = await page.goto(f"{desk.base_url}/portal")
    assert response is not None and response.ok
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    await expect(page.locator("#signed-out-view")).to_be_visible(timeout=WAIT)
    link = page.get_by_role("link", name="Start a chat")
    await expect(link).to_have_attribute("href", "/demo")
    await expect(page.locator("#portal-user")).to_be_hidden()
    problems.assert_none()
