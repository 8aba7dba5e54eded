"""The widget's pre-chat form and chime, and "Add me as requester", in Chromium.

An admin makes Support's email required and hides its subject (Admin → Services):
the visitor's form follows and refuses to start without an email. The form fits the
panel on a 1280×800 desktop and on a phone. An agent's message rings a (stubbed)
chime while the widget is minimised, at most once in a burst; the sound button turns
it off and the choice survives a reload. In the console's Alt+T dialog an agent makes
themself the requester.
"""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, BrowserContext, Frame, Page, expect
from sqlalchemy import func, select

from chat.models import Chat
from tests.e2e.i18n_check import I18N
from tests.e2e.pages import DESKTOP, PHONE, SCREENSHOTS, WAIT, Problems, console_login, new_context
from tests.support import LiveDesk
from ticketing.models import Ticket

pytestmark = pytest.mark.browser

EN = json.loads((I18N / "en.json").read_text(encoding="utf-8"))
SUPPORT = 1

# Web Audio replaced by a recorder: each note the chime starts is counted.
FAKE_AUDIO = """
window.__chimeNotes = 0;
window.AudioContext = class {
  constructor() { this.state = 'running'; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createOscillator() {
    return { type: '', frequency: { setValueAtTime() {} }, connect() {}, stop() {},
             start() { window.__chimeNotes += 1; } };
  }
  createGain() {
    return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect() {} };
  }
};
"""
NOTES_PER_CHIME = 2


async def open_widget(context: BrowserContext, desk: LiveDesk, problems: Problems) -> Page:
    """The demo page with the widget opened on its form."""
    page = problems.watch(await context.new_page(), "demo")
    await page.goto(f"{desk.base_url}/demo")
    launcher = page.locator("chatdesk-widget button.launcher")
    await launcher.click()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    form = page.frame_locator("chatdesk-widget iframe").locator("#screen-form")
    await expect(form).to_be_visible()
    return page


def widget_frame(page: Page) -> Frame:
    return next(f for f in page.frames if "/widget" in f.url and f != page.main_frame)


async def chats_stored(desk: LiveDesk) -> int:
    async with desk.runtime.sessions() as session:
        return int(await session.scalar(select(func.count(Chat.id))) or 0)


async def test_the_admin_sets_the_fields_and_the_widget_form_follows(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await desk.agent("Bea", services=[SUPPORT])  # online: the widget offers a live chat
    admin, password = await desk.add_agent("Ada", admin=True)
    console = await console_login(await new_context(browser, desk), desk, problems, admin, password)
    await console.locator("#nav-admin").click()
    await console.locator("#admin-tab-services").click()
    support = console.locator(f'#service-list li[data-service-id="{SUPPORT}"]')
    await support.get_by_role("button", name=EN["admin.hours_edit"]).click()
    editor = console.locator(f"#service-{SUPPORT}-editor")
    await expect(editor.get_by_text(EN["admin.prechat_title"], exact=True)).to_be_visible()
    # The name can't be hidden: its select offers only optional and required.
    name_rule = editor.get_by_label(EN["admin.prechat_field.name"], exact=True)
    await expect(name_rule.locator("option")).to_have_count(2)
    await editor.get_by_label(EN["admin.prechat_field.email"], exact=True).select_option("required")
    await editor.get_by_label(EN["admin.prechat_field.subject"], exact=True).select_option("hidden")
    await editor.locator(".prechat").screenshot(path=SCREENSHOTS / "console-admin-prechat.png")
    await editor.locator(f"#service-{SUPPORT}-save-hours").click()
    saved = EN["admin.hours_saved"].format(name="Support")
    await expect(console.locator(".cd-notice").filter(has_text=saved).first).to_be_visible()

    page = await open_widget(await new_context(browser, desk), desk, problems)
    w = page.frame_locator("chatdesk-widget iframe")
    await w.get_by_label("Service").select_option(str(SUPPORT))
    email = w.get_by_label("Email (required)")
    await expect(email).to_be_visible()
    await expect(email).to_have_attribute("aria-required", "true")
    await expect(w.locator("#field-subject")).to_be_hidden()
    await expect(w.get_by_label("Name", exact=True)).to_be_visible()

    await w.get_by_label("Name", exact=True).fill("Ana")
    await w.get_by_label("Message", exact=True).fill("Where is my parcel?")
    await w.get_by_role("button", name="Start chat").click()
    error = w.locator("#form-email-error")
    await expect(error).to_have_text(EN["widget.error_email_required"])
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_be_focused()
    await page.screenshot(path=SCREENSHOTS / "widget-form-email-required.png")
    assert await chats_stored(desk) == 0

    await email.fill("ana@example.com")
    await w.get_by_role("button", name="Start chat").click()
    await expect(w.locator("#screen-chat")).to_be_visible()
    async with desk.runtime.sessions() as session:
        chat = await session.scalar(select(Chat))
    assert chat is not None and chat.customer_email == "ana@example.com" and chat.subject == ""
    problems.assert_none()


async def test_the_start_button_fits_on_a_desktop_and_a_phone(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await desk.agent("Bea", services=[SUPPORT])
    page = await open_widget(await new_context(browser, desk, viewport=DESKTOP), desk, problems)
    w = page.frame_locator("chatdesk-widget iframe")
    await w.get_by_label("Name", exact=True).fill("Ana Souza")
    await w.get_by_label("Email (optional)").fill("ana@example.com")
    await w.get_by_label("Subject (optional)").fill("Size exchange")
    await w.get_by_label("Message", exact=True).fill(
        "Hi! I ordered the Trailblazer in size 39 but it's a bit tight. Can I swap it for a 40?"
    )
    for viewport, name in ((DESKTOP, "widget-form-desktop.png"), (PHONE, "widget-form-phone.png")):
        await page.set_viewport_size(viewport)
        panel = page.locator("chatdesk-widget .panel")
        if viewport is PHONE:
            await expect(panel).to_have_js_property("offsetWidth", PHONE["width"])
        start = w.get_by_role("button", name="Start chat")
        await expect(start).to_be_visible()
        button, frame = await start.bounding_box(), await panel.bounding_box()
        assert button is not None and frame is not None
        assert button["y"] >= frame["y"]
        assert button["y"] + button["height"] <= frame["y"] + frame["height"], (name, button)
        assert button["y"] + button["height"] <= viewport["height"], (name, button)
        # Nothing to scroll: the whole form is in view.
        screen = w.locator("#screen-form")
        overflow = await screen.evaluate("(el) => el.scrollHeight - el.clientHeight")
        assert overflow <= 0, f"{name}: the form scrolls by {overflow}px"
        await page.screenshot(path=SCREENSHOTS / name)
    problems.assert_none()


async def test_an_agents_message_chimes_while_minimised_and_the_sound_can_be_turned_off(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    bea = await desk.agent("Bea", services=[SUPPORT])
    context = await new_context(browser, desk)
    await context.add_init_script(FAKE_AUDIO)
    page = await open_widget(context, desk, problems)
    w = page.frame_locator("chatdesk-widget iframe")
    sound = w.get_by_role("button", name=EN["widget.sound"])
    await expect(sound).to_have_attribute("aria-pressed", "true")  # on unless turned off
    await w.get_by_label("Name", exact=True).fill("Ana")
    await w.get_by_label("Message", exact=True).fill("Is the Roadrunner waterproof?")
    await w.get_by_role("button", name="Start chat").click()
    await expect(w.locator("#screen-chat")).to_be_visible()
    offer = await bea.next_offer()
    chat_id = offer["chat"]["id"]
    await bea.accept(chat_id)
    await bea.say(chat_id, "Hi Ana, let me check.")
    await expect(w.locator("#log")).to_contain_text("Hi Ana, let me check.")

    async def notes() -> int:
        return int(await widget_frame(page).evaluate("window.__chimeNotes"))

    assert await notes() == 0  # in view: no sound
    await w.locator("#close-button").click()  # minimise
    launcher = page.locator("chatdesk-widget button.launcher")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await widget_frame(page).evaluate("() => new Promise((done) => setTimeout(done, 100))")
    await bea.say(chat_id, "It is, up to ankle depth.")
    await bea.say(chat_id, "Anything else?")
    await expect(page.locator("chatdesk-widget .badge")).to_have_text("2")
    assert await notes() == NOTES_PER_CHIME  # one chime for the burst

    await launcher.click()
    await sound.click()
    await expect(sound).to_have_attribute("aria-pressed", "false")
    await page.screenshot(path=SCREENSHOTS / "widget-sound-off.png")
    await page.reload()
    await launcher.click()
    await expect(w.locator("#screen-chat")).to_be_visible()
    await expect(sound).to_have_attribute("aria-pressed", "false")  # remembered
    await w.locator("#close-button").click()
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    # The loader tells the frame it is minimised by postMessage; let the frame take that
    # task before the agent writes (the first minimise above has the same order).
    await widget_frame(page).evaluate("() => new Promise((done) => setTimeout(done, 100))")
    await bea.say(chat_id, "Bye for now!")
    await expect(page.locator("chatdesk-widget .badge")).to_have_text("1")
    assert await notes() == 0  # a fresh page, and the sound is off

    # No Web Audio at all (or blocked): nothing plays, nothing throws.
    played = await widget_frame(page).evaluate(
        """async () => {
          window.AudioContext = function () { throw new Error('audio blocked'); };
          const { Chime } = await import('/static/widget/chime.js');
          const memory = new Map();
          const storage = { get: (k) => memory.get(k) ?? null, set: (k, v) => memory.set(k, v) };
          return new Chime({ button: document.createElement('button'), storage }).play();
        }"""
    )
    assert played is False
    problems.assert_none()


async def test_add_me_as_requester_in_the_new_ticket_dialog(
    desk: LiveDesk, browser: Browser
) -> None:
    problems = Problems()
    bea, password = await desk.add_agent("Bea")
    page = await console_login(await new_context(browser, desk), desk, problems, bea, password)
    await page.keyboard.press("Alt+t")
    dialog = page.locator("#new-ticket-dialog")
    await expect(dialog).to_be_visible(timeout=WAIT)
    await dialog.get_by_role("button", name=EN["tickets.add_me_requester"]).click()
    await expect(page.locator("#nt-email")).to_have_value(bea.email)
    await expect(page.locator("#nt-name")).to_have_value("Bea")
    await dialog.get_by_label("Subject").fill("My headset crackles")
    await dialog.get_by_label("Message").fill("Since Monday, on every call.")
    await page.screenshot(path=SCREENSHOTS / "console-new-ticket-add-me.png")
    await dialog.get_by_role("button", name="Send ticket").click()
    await expect(dialog).to_be_hidden(timeout=WAIT)
    detail = page.locator("#ticket-detail")
    await expect(detail.locator(".ticket__title")).to_contain_text("My headset crackles")
    await expect(detail).to_contain_text(bea.email)
    async with desk.runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.subject == "My headset crackles"))
        assert ticket is not None
        await session.refresh(ticket, ["requester"])
        assert ticket.requester.email == bea.email and ticket.requester.name == "Bea"
    problems.assert_none()
