"""The console's Admin settings in Chromium: agents, hours and SLA, tokens, the widget.

An admin adds an agent, gives Support short Saturday hours, a holiday and a P1 SLA,
creates an API token (shown once) and revokes it, adds an organization with a
designated contact, then re-colours the widget and writes a greeting: the live
preview — the real widget frame — changes as they type, before saving. After saving,
a visitor on the demo page sees the new colour, the launcher on the left and the
greeting.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from chat.models import ApiToken
from tests.e2e.i18n_check import I18N
from tests.e2e.pages import SCREENSHOTS, WAIT, Problems, console_login, new_context
from tests.support import LiveDesk
from ticketing.models import Agent, Service

pytestmark = pytest.mark.browser

EN = json.loads((I18N / "en.json").read_text(encoding="utf-8"))
SUPPORT = 1
GREETING = "Welcome to ACME support! Ask about sizes, orders or returns."
BRAND = "#aa3300"
BRAND_RGB = "rgb(170, 51, 0)"


async def assert_translated(page: Page) -> None:
    text = await page.locator("body").inner_text()
    assert "⟦" not in text, text


async def test_an_admin_sets_up_agents_hours_tokens_and_the_widget(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await desk.agent("Bea", services=[SUPPORT])  # online: the widget offers a live chat
    admin, password = await desk.add_agent("Ada", admin=True)
    context = await new_context(browser, desk)
    page = await console_login(context, desk, problems, admin, password)
    await page.locator("#nav-admin").click()

    # 1. Agents: the first section. Add Cleo, then give her capacity 5.
    await expect(page.locator("#admin-agents")).to_be_visible()
    await page.locator("#agent-new-submit").click()
    await expect(page.locator("#agent-form .form-error")).to_have_text(EN["admin.agent_missing"])
    await page.locator("#agent-new-email").fill("cleo@desk.test")
    await page.locator("#agent-new-name").fill("Cleo")
    await page.locator("#agent-new-password").fill("cleo's first password")
    await page.locator("#agent-new-submit").click()
    cleo = page.locator("#agents-body tr").filter(has_text="cleo@desk.test")
    await expect(cleo).to_have_count(1)
    capacity = cleo.get_by_label(EN["admin.col_capacity"])
    await capacity.fill("5")
    await capacity.press("Tab")
    await expect(
        page.locator(".cd-notice").filter(has_text=EN["admin.saved"]).first
    ).to_be_visible()
    await assert_translated(page)
    await page.screenshot(path=SCREENSHOTS / "console-admin-agents.png")
    async with desk.runtime.sessions() as session:
        row = await session.scalar(select(Agent).where(Agent.email == "cleo@desk.test"))
        assert row is not None and row.capacity == 5 and row.password_hash.startswith("$argon2")

    # 2. Services: Support keeps short Saturday hours, closes on Christmas, P1 in 2 h.
    await page.locator("#admin-tab-services").click()
    support = page.locator(f'#service-list li[data-service-id="{SUPPORT}"]')
    await expect(support).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "console-admin-services.png")
    await support.get_by_role("button", name=EN["admin.hours_edit"]).click()
    editor = page.locator(f"#service-{SUPPORT}-editor")
    await expect(editor).to_be_visible()
    await editor.locator(".hours__zone").fill("Europe/Amsterdam")
    saturday = editor.locator('tr[data-day="sat"]')  # seeded round the clock
    await saturday.get_by_role("button", name=EN["admin.hours_remove_interval"]).click()
    await expect(saturday).to_contain_text(EN["admin.hours_closed"])
    await saturday.get_by_role("button", name=EN["admin.hours_add_interval"]).click()
    await saturday.locator(".hours__range input").nth(0).fill("10:00")
    await saturday.locator(".hours__range input").nth(1).fill("14:00")
    await editor.locator(".hours__new-holiday").fill("2026-12-25")
    await editor.get_by_role("button", name=EN["admin.hours_add_holiday"]).click()
    await expect(editor.locator(".hours__holiday")).to_contain_text(["2026-12-25"])
    await editor.locator('.sla__table tr[data-priority="P1"] input').first.fill("2")
    await page.screenshot(path=SCREENSHOTS / "console-admin-hours.png", full_page=True)
    await editor.locator(f"#service-{SUPPORT}-save-hours").click()
    saved = EN["admin.hours_saved"].format(name="Support")
    await expect(page.locator(".cd-notice").filter(has_text=saved).first).to_be_visible()
    async with desk.runtime.sessions() as session:
        service = await session.get(Service, SUPPORT)
        assert service is not None
        assert service.schedule["timezone"] == "Europe/Amsterdam"
        assert service.schedule["weekly"]["sat"] == ["10:00-14:00"]
        assert "2026-12-25" in service.schedule["holidays"]
        assert service.sla_targets is not None and service.sla_targets["pickup_hours"]["P1"] == 2
    await expect(page.locator(f"#service-{SUPPORT}-editor .hours__holiday")).to_have_count(1)

    # 3. API tokens: shown once, copyable; revoking asks once more.
    await page.locator("#admin-tab-tokens").click()
    await page.locator("#token-new-name").fill("CRM sync")
    await page.locator("#token-submit").click()
    await expect(page.locator("#token-secret-value")).to_have_text(re.compile(r"^cdk_\S{20,}$"))
    await expect(page.locator("#token-copy")).to_be_visible()
    token_row = page.locator("#tokens-body tr").filter(has_text="CRM sync")
    await expect(token_row).to_contain_text(EN["admin.token_active"])
    await expect(token_row).to_contain_text(EN["admin.token_never_used"])
    await page.screenshot(path=SCREENSHOTS / "console-admin-tokens.png")
    await token_row.get_by_role("button", name=EN["admin.token_revoke"]).click()
    await token_row.get_by_role("button", name=EN["admin.token_revoke_confirm"]).click()
    await expect(token_row).to_have_attribute("data-revoked", "true")
    await expect(token_row).to_contain_text(EN["admin.token_revoked"])
    async with desk.runtime.sessions() as session:
        token = await session.scalar(select(ApiToken).where(ApiToken.name == "CRM sync"))
        assert token is not None and token.revoked_at is not None

    # 4. Organizations: ACME by its email domain, with a designated contact.
    await page.locator("#admin-tab-organizations").click()
    await expect(page.locator("#admin-organizations .empty")).to_be_visible()
    form = page.locator("#organization-form")
    await form.get_by_label(EN["admin.col_name"]).fill("ACME Corp")
    await form.get_by_label(EN["admin.org_domain"]).fill("acme.example")
    await form.get_by_label(EN["admin.org_contacts"]).fill("boss@acme.example")
    await form.get_by_label(EN["admin.org_requires_approval"]).check()
    await form.get_by_role("button", name=EN["admin.org_create"]).click()
    acme = page.locator("#organization-list li")
    await expect(acme).to_have_count(1)
    await expect(acme.get_by_label(EN["admin.org_domain"])).to_have_value("acme.example")
    await expect(acme.get_by_label(EN["admin.org_contacts"])).to_have_value("boss@acme.example")
    await expect(acme.get_by_label(EN["admin.org_requires_approval"])).to_be_checked()
    await page.screenshot(path=SCREENSHOTS / "console-admin-organizations.png")

    # 5. The widget: the preview follows the typing, before anything is saved.
    await page.locator("#admin-tab-widget").click()
    preview = page.frame_locator("#widget-preview-frame")
    intro = preview.locator("#form-intro")
    await expect(intro).to_have_text(EN["widget.form_intro"], timeout=WAIT)
    await page.locator("#widget-color").fill(BRAND)
    await page.locator("#widget-greeting-en").fill(GREETING)
    await page.locator("#widget-position-left").check()
    await expect(intro).to_have_text(GREETING)
    start = preview.locator(".cd-header")
    await expect(start).to_have_css("background-color", BRAND_RGB)
    launcher = page.locator("#widget-preview-launcher")
    await expect(launcher).to_have_css("background-color", BRAND_RGB)
    await expect(page.locator("#widget-preview")).to_have_attribute("data-position", "left")
    assert desk.runtime.widget.look.color == "#1f6feb"  # nothing saved yet
    # A site with a path is refused, with the server's reason.
    await page.locator("#widget-origins").fill("https://shop.example.com/shoes")
    await page.locator("#widget-save").click()
    await expect(page.locator("#widget-form .form-error")).to_contain_text("no path")
    await page.locator("#widget-origins").fill("https://shop.example.com")
    await assert_translated(page)
    # The notices so far (they go after 8 s) would hide the preview's heading.
    await page.evaluate("() => document.querySelectorAll('.cd-notice').forEach((n) => n.remove())")
    await page.locator("#admin-widget").evaluate("(section) => section.scrollTo(0, 0)")
    await page.screenshot(path=SCREENSHOTS / "console-admin-widget.png")
    await page.locator("#widget-save").click()
    await expect(
        page.locator(".cd-notice").filter(has_text=EN["admin.widget_saved"])
    ).to_be_visible()
    look = desk.runtime.widget.look
    assert (look.color, look.position, look.greeting["en"]) == (BRAND, "left", GREETING)
    assert look.allowed_origins == ("https://shop.example.com",)

    # 6. The real widget on the demo page: colour, side and greeting as saved.
    visitor = problems.watch(await (await new_context(browser, desk)).new_page(), "demo")
    await visitor.goto(f"{desk.base_url}/demo")
    bubble = visitor.locator("chatdesk-widget button.launcher")
    await expect(bubble).to_be_visible(timeout=WAIT)
    await expect(bubble).to_have_css("background-color", BRAND_RGB)
    box = await bubble.bounding_box()
    assert box is not None and box["x"] < 100  # bottom left
    await bubble.click()
    widget = visitor.frame_locator("chatdesk-widget iframe")
    await expect(widget.locator("#form-intro")).to_be_visible(timeout=WAIT)
    await expect(widget.locator("#form-intro")).to_have_text(GREETING)
    await expect(widget.locator(".cd-header")).to_have_css("background-color", BRAND_RGB)
    await visitor.screenshot(path=SCREENSHOTS / "demo-widget-themed.png")

    refused = [p for p in problems.seen if "422" in p and p.endswith("/api/admin/widget)")]
    assert len(refused) == 1, problems.seen
    problems.seen.remove(refused[0])
    problems.assert_none()
