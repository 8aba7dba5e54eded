"""Outgoing email: what each change sends, to whom, in which language, threaded, over SMTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import string
import uuid
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.runtime import Runtime
from chat.seed import create_agent, seed_services
from chat.settings import Settings
from tests.conftest import Backend
from tests.support import LiveDesk
from tests.ticketing.mailroom import DESK_URL, mail_settings, mailbox, with_mail
from ticketing.clock import FakeClock
from ticketing.conversion import FinishedChat, TranscriptLine, convert_chat
from ticketing.db import transaction
from ticketing.deliveries import NO_SMTP, Deliverer
from ticketing.mail_out import (
    Letter,
    MailConfigError,
    MailSettings,
    Quote,
    Say,
    render,
    reply_address,
    thread_root,
    ticket_from_reply_address,
)
from ticketing.mail_templates import LANGUAGES, language
from ticketing.models import (
    AuthorType,
    Customer,
    Service,
    Survey,
    TicketStatus,
)
from ticketing.notifications import (
    MAX_TRANSCRIPTS_PER_CHAT,
    TooManyTranscripts,
    TranscriptUnavailable,
    send_transcript,
)
from ticketing.outbox import DeliveryStatus, OutboxEmail, retry_now
from ticketing.policy import MODERA
from ticketing.service import InvalidTicket, Who, locked_ticket, tickets
from ticketing.status import Actor, CloseReason
from ticketing.timers import run_ticket_timers

Sessions = async_sessionmaker[AsyncSession]
BILLING = 3
MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
SECRET_NOTE = "VIP: secret discount code XYZ-123"


# ------------------------------------------------------------------ pure parts
def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    reference = LANGUAGES["en"]
    for lang, strings in LANGUAGES.items():
        assert set(strings) == set(reference), lang
        for key, text in strings.items():
            assert fields(text) == fields(reference[key]), (lang, key)
    assert [language(x) for x in ("pt-br", "pt", "nl-BE", "de", None)] == [
        "pt-BR",
        "pt-BR",
        "nl",
        "en",
        "en",
    ]


def test_reply_addresses_name_one_ticket_and_cannot_be_forged() -> None:
    mail = mail_settings()
    address = reply_address(mail, 42)
    assert re.fullmatch(r"support\+t42\.[0-9a-f]{16}@desk\.example\.com", address)
    assert ticket_from_reply_address(mail, address) == 42
    assert ticket_from_reply_address(mail, address.upper()) == 42  # relays may change case
    forged = address.replace("+t42.", "+t43.")
    assert ticket_from_reply_address(mail, forged) is None
    assert ticket_from_reply_address(mail, address.replace("desk.example.com", "evil.test")) is None
    other_desk = MailSettings(**{**mail.__dict__, "secret_key": "another"})
    assert ticket_from_reply_address(other_desk, address) is None


def test_bad_mail_settings_are_refused_at_start() -> None:
    with pytest.raises(MailConfigError, match="SMTP_TLS"):
        mail_settings(smtp_tls="maybe")
    with pytest.raises(MailConfigError, match="MAIL_FROM"):
        mail_settings(sender="Support")


def test_html_part_escapes_whatever_people_wrote_and_text_keeps_it() -> None:
    letter = Letter(
        lang="nl",
        name='Ana <img src=x onerror="alert(1)">',
        blocks=(
            Say("reply", {"ticket_id": 7, "agent": "<b>Bea</b>"}),
            Quote("", "<script>x</script>"),
        ),
        footer=Say("footer", {"ticket_id": 7}),
        view_url="https://desk.example.com/portal#/ticket/7",
    )
    text, html = render(letter)
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<img" not in html and "<b>Bea</b>" not in html and "&lt;b&gt;Bea&lt;/b&gt;" in html
    assert "<script>x</script>" in text and "heeft ticket #7 beantwoord" in text
    assert text.startswith("##- Typ uw antwoord boven deze regel -##")
    assert '<html lang="nl">' in html


# ------------------------------------------------------------------ a ticket's emails
async def _desk(sessions: Sessions) -> tuple[Customer, Who]:
    async with transaction(sessions) as session:
        ana = Customer(name="Ana", email="ana@shop.example", lang="pt-BR")
        joost = Customer(name="Joost", email="joost@shop.example", lang="nl")
        session.add_all([ana, joost])
        bea = await create_agent(session, "bea@desk.test", "Bea", "secret-pass")
        await session.flush()
        return ana, Who(Actor.AGENT, bea.id, "Bea")


async def _ticket(sessions: Sessions, ana: Customer, cc: list[str] | None = None) -> int:
    async with transaction(sessions) as session:
        customer = await session.get(Customer, ana.id)
        assert customer is not None
        ticket = await tickets.create(
            session,
            requester=customer,
            service_id=BILLING,
            subject="Fatura em dobro",
            message="Fui cobrada duas vezes",
            who=Who(Actor.CUSTOMER, ana.id, "Ana"),
            now=MONDAY,
            cc=cc or [],
        )
        return ticket.id


async def _outbox(sessions: Sessions, ticket_id: int | None = None) -> list[OutboxEmail]:
    async with sessions() as session:
        query = select(OutboxEmail).order_by(OutboxEmail.id)
        if ticket_id is not None:
            query = query.where(OutboxEmail.ticket_id == ticket_id)
        return list(await session.scalars(query))


def _at(hours: float) -> dt.datetime:
    return MONDAY + dt.timedelta(hours=hours)


async def test_a_tickets_life_emails_requester_and_ccs_in_their_language_never_a_note(
    sessions: Sessions,
) -> None:
    mail = mail_settings()
    with_mail(sessions, mail)
    ana, bea = await _desk(sessions)
    ticket_id = await _ticket(sessions, ana, cc=["joost@shop.example", "boss@shop.example"])
    customer = Who(Actor.CUSTOMER, ana.id, "Ana")
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(
            session,
            ticket,
            bea,
            "Qual é o número da fatura?",
            _at(1),
            set_status=TicketStatus.PENDING,
        )
        await tickets.reply(session, ticket, bea, SECRET_NOTE, _at(1.5), internal=True)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(session, ticket, customer, "INV-7", _at(2))  # → open, no email
        await tickets.reply(session, ticket, bea, "Estamos verificando.", _at(3))
        await tickets.reply(
            session,
            ticket,
            bea,
            "Estornamos a cobrança.",
            _at(4),
            set_status=TicketStatus.RESOLVED,
        )
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.change_status(
            session, ticket, TicketStatus.CLOSED, customer, _at(5), CloseReason.APPROVED
        )
    emails = await _outbox(sessions, ticket_id)
    by_person: dict[str, list[str]] = {}
    for email in emails:
        by_person.setdefault(email.recipient, []).append(email.kind)
    kinds = ["created", "pending", "reply", "resolved", "closed"]
    assert by_person == {
        "ana@shop.example": kinds,
        "joost@shop.example": kinds,
        "boss@shop.example": kinds,
    }
    assert all(SECRET_NOTE not in e.text_body + e.html_body for e in emails)
    langs = {e.recipient: e.lang for e in emails}
    assert langs == {
        "ana@shop.example": "pt-BR",
        "joost@shop.example": "nl",
        "boss@shop.example": "pt-BR",
    }  # an unknown CC reads the requester's
    ana_mail = {e.kind: e for e in emails if e.recipient == "ana@shop.example"}
    assert "Qual é o número da fatura?" in ana_mail["pending"].text_body
    assert "precisamos da sua resposta" in ana_mail["pending"].text_body
    assert "Estornamos a cobrança." in ana_mail["resolved"].text_body
    assert "/portal?signin=" in ana_mail["resolved"].text_body
    assert "action=confirm" in ana_mail["resolved"].text_body
    assert "/survey?token=" in ana_mail["closed"].text_body
    assert "rating=5&lang=pt-BR" in ana_mail["closed"].html_body.replace("&amp;", "&")
    for email in emails:
        if email.recipient != "ana@shop.example":  # personal links are the requester's only
            assert "signin=" not in email.text_body and "/survey?" not in email.text_body
    joost_resolved = next(
        e for e in emails if e.recipient == "joost@shop.example" and e.kind == "resolved"
    )
    assert "De aanvrager kan de oplossing bevestigen" in joost_resolved.text_body
    assert all(e.subject == f"[#{ticket_id}] Fatura em dobro" for e in emails)
    assert all(e.reply_to == reply_address(mail, ticket_id) for e in emails)
    async with sessions() as session:
        survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    assert survey is not None and survey.answered_at is None  # asked, by email


async def test_emails_go_out_over_smtp_as_one_thread_with_text_and_html(
    sessions: Sessions,
) -> None:
    async with mailbox() as box:
        mail = mail_settings(box.port)
        with_mail(sessions, mail)
        ana, bea = await _desk(sessions)
        ticket_id = await _ticket(sessions, ana)
        async with transaction(sessions) as session:
            ticket = await locked_ticket(session, ticket_id)
            await tickets.reply(session, ticket, bea, "Olá!", _at(1))
            await tickets.reply(
                session, ticket, bea, "Pode confirmar?", _at(2), set_status=TicketStatus.PENDING
            )
        async with Deliverer(sessions, mail) as deliverer:
            report = await deliverer.send_emails(_at(3))
    assert len(report.emails_sent) == 3 and not report.emails_retrying
    created, reply, pending = box.to("ana@shop.example")
    root = thread_root(mail, ticket_id)
    assert created["In-Reply-To"] == root and created["References"] == root
    assert reply["In-Reply-To"] == created["Message-ID"]
    assert pending["In-Reply-To"] == reply["Message-ID"]
    assert pending["References"] == f"{root} {reply['Message-ID']}"
    for message in (created, reply, pending):
        assert message["Reply-To"] == reply_address(mail, ticket_id)
        assert message["From"] == "Example Support <support@desk.example.com>"
        assert message["Subject"] == f"[#{ticket_id}] Fatura em dobro"
        assert message["Content-Language"] == "pt-BR"
        assert message.get_content_type() == "multipart/alternative"
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
        assert "Olá, Ana," in plain.get_content() and "<html" in html.get_content()
    assert created["Auto-Submitted"] == "auto-generated"  # robots don't answer robots
    assert reply["Auto-Submitted"] is None  # a person wrote this one
    assert box.received[0].mail_from == "support@desk.example.com"  # bounces come back to us


async def test_a_refusing_relay_is_retried_with_backoff_and_a_final_refusal_is_recorded(
    sessions: Sessions,
) -> None:
    async with mailbox() as box:
        mail = mail_settings(box.port)
        with_mail(sessions, mail)
        ana, _ = await _desk(sessions)
        ticket_id = await _ticket(sessions, ana)
        box.refuse = ["451 4.3.0 Try again later"]
        async with Deliverer(sessions, mail, rand=lambda: 1.0) as deliverer:
            first = await deliverer.send_emails(_at(0))
            [row] = await _outbox(sessions, ticket_id)
            assert first.emails_retrying == [row.id] and not box.received
            assert row.attempts == 1 and "451" in (row.last_error or "")
            assert row.next_attempt_at == _at(0) + dt.timedelta(seconds=30)
            early = await deliverer.send_emails(_at(0) + dt.timedelta(seconds=29))
            assert early.emails_sent == []
            later = await deliverer.send_emails(row.next_attempt_at)
            assert later.emails_sent == [row.id] and len(box.received) == 1
            box.refuse = ["550 5.1.1 No such user here"]
            async with transaction(sessions) as session:
                ticket = await locked_ticket(session, ticket_id)
                await tickets.reply(session, ticket, Who(Actor.AGENT, None, "Bea"), "Oi", _at(1))
            refused = await deliverer.send_emails(_at(1))
    [_, failed] = await _outbox(sessions, ticket_id)
    assert refused.emails_failed == [failed.id]
    assert failed.status is DeliveryStatus.FAILED and failed.attempts == 1
    assert "550" in (failed.last_error or "") and "No such user" in (failed.last_error or "")


async def test_without_smtp_emails_are_held_for_admins_and_can_be_sent_later(
    sessions: Sessions,
) -> None:
    mail = mail_settings()  # no SMTP_HOST
    with_mail(sessions, mail)
    ana, _ = await _desk(sessions)
    ticket_id = await _ticket(sessions, ana)
    async with Deliverer(sessions, mail) as deliverer:
        report = await deliverer.send_emails(_at(1))
    [email] = await _outbox(sessions, ticket_id)
    assert report.emails_held == 1
    assert email.status is DeliveryStatus.HELD and email.last_error == NO_SMTP
    assert "Fui cobrada duas vezes" in email.text_body  # nothing lost: readable right here
    async with transaction(sessions) as session:
        assert await retry_now(session, OutboxEmail, email.id, _at(2))
    async with mailbox() as box:
        configured = mail_settings(box.port)
        async with Deliverer(sessions, configured) as deliverer:
            assert (await deliverer.send_emails(_at(2))).emails_sent == [email.id]
    assert len(box.received) == 1


async def test_reminders_and_the_inactive_close_tell_the_customer_why(sessions: Sessions) -> None:
    with_mail(sessions, mail_settings())
    ana, bea = await _desk(sessions)
    async with transaction(sessions) as session:
        service = await session.get(Service, BILLING)
        assert service is not None
        service.inactivity_policy = MODERA.to_dict()
        customer = await session.get(Customer, ana.id)
        assert customer is not None
        customer.lang = "en"
    ticket_id = await _ticket(sessions, ana)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(
            session, ticket, bea, "Send the invoice?", MONDAY, set_status=TicketStatus.PENDING
        )
    now = MONDAY
    for _ in range(60):
        now += dt.timedelta(days=1)
        await run_ticket_timers(sessions, now)
    kinds = [e.kind for e in await _outbox(sessions, ticket_id)]
    assert kinds == ["created", "pending", "reminder", "reminder", "closed"]
    *_, reminder, closed = await _outbox(sessions, ticket_id)
    assert "still waiting for your answer" in reminder.text_body
    assert "closed as inactive" in closed.text_body and "/survey?" not in closed.text_body
    assert reminder.headers["Auto-Submitted"] == "auto-generated"


async def test_a_converted_chat_is_acknowledged_and_its_transcript_sent_on_request(
    sessions: Sessions,
) -> None:
    with_mail(sessions, mail_settings())
    ana, bea = await _desk(sessions)
    lines = [
        TranscriptLine(AuthorType.CUSTOMER, ana.id, "Ana", "Minha fatura veio errada", MONDAY),
        TranscriptLine(AuthorType.AGENT, bea.id, "Bea", "Vou corrigir agora", _at(0.1)),
    ]
    chat = FinishedChat(
        chat_id=77,
        service_id=BILLING,
        customer_id=ana.id,
        agent_id=bea.id,
        subject="",
        status=TicketStatus.RESOLVED,
        ask_for_rating=True,
        transcript=lines,
    )
    async with transaction(sessions) as session:
        ticket = await convert_chat(session, chat, _at(0.2))
        ticket_id = ticket.id
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(session, ticket, bea, SECRET_NOTE, _at(0.3), internal=True)
        await tickets.reply(session, ticket, bea, "Later reply", _at(5))
    [created, _reply] = await _outbox(sessions, ticket_id)
    assert created.kind == "created" and "registrada como o ticket" in created.text_body
    async with transaction(sessions) as session:
        email = await send_transcript(session, 77, " Ana.Home@Example.com ", _at(0.3))
    assert email.recipient == "ana.home@example.com" and email.kind == "transcript"
    assert email.subject == "A transcrição da sua conversa (2026-11-23 10:12 UTC)"
    assert "[10:00] Ana: Minha fatura veio errada" in email.text_body
    assert "[10:06] Bea: Vou corrigir agora" in email.text_body
    assert SECRET_NOTE not in email.text_body + email.html_body
    assert "Later reply" not in email.text_body  # the chat, not the ticket's later life
    for _ in range(MAX_TRANSCRIPTS_PER_CHAT - 1):
        async with transaction(sessions) as session:
            await send_transcript(session, 77, "ana@shop.example", _at(0.4))
    with pytest.raises(TooManyTranscripts):
        async with transaction(sessions) as session:
            await send_transcript(session, 77, "ana@shop.example", _at(0.5))
    with pytest.raises(TranscriptUnavailable):
        async with transaction(sessions) as session:
            await send_transcript(session, 78, "ana@shop.example", _at(0.5))
    with pytest.raises(InvalidTicket):
        async with transaction(sessions) as session:
            await send_transcript(session, 77, "not an address", _at(0.5))


async def test_a_session_without_mail_settings_queues_nothing(sessions: Sessions) -> None:
    ana, _ = await _desk(sessions)
    await _ticket(sessions, ana)
    assert await _outbox(sessions) == []


# ------------------------------------------------------------------ the admin's outbox
async def test_admins_read_the_outbox_newest_first_and_send_held_email_again(
    desk: LiveDesk,
) -> None:
    admin, password = await desk.add_agent("Ada", admin=True)
    agent, agent_password = await desk.add_agent("Bea")
    async with transaction(desk.runtime.sessions) as session:
        ana = Customer(name="Ana", email="ana@shop.example", lang="en")
        session.add(ana)
        await session.flush()
        for n in range(2):
            await tickets.create(
                session,
                requester=ana,
                service_id=BILLING,
                subject=f"Question {n}",
                message=f"Body {n}",
                who=Who(Actor.CUSTOMER, ana.id, "Ana"),
                now=desk.clock.now() + dt.timedelta(minutes=n),
            )
    async with Deliverer(desk.runtime.sessions, mail_settings()) as deliverer:
        await deliverer.send_emails(desk.clock.now() + dt.timedelta(minutes=5))
    cookies = await desk.login(admin, password)
    async with httpx.AsyncClient(
        base_url=desk.base_url,
        cookies=cookies,
        headers={"X-CSRF-Token": cookies["chatdesk_csrf"]},
    ) as http:
        listed = (await http.get("/api/admin/outbox", params={"per_page": 1})).json()
        assert listed["total"] == 2 and listed["smtp_configured"] is False
        [newest] = listed["items"]
        assert newest["subject"].endswith("Question 1") and "Body 1" in newest["text"]
        assert newest["status"] == "held" and newest["last_error"] == NO_SMTP
        assert newest["to"] == "ana@shop.example" and newest["attempts"] == 0
        resent = await http.post(f"/api/admin/outbox/{newest['id']}/resend")
        assert resent.status_code == 202 and resent.json()["status"] == "pending"
        again = await http.post(f"/api/admin/outbox/{newest['id']}/resend")
        assert again.status_code == 422 and again.json()["code"] == "invalid_setting"
        bad = await http.get("/api/admin/outbox", params={"status": "lost"})
        assert bad.status_code == 422 and "pending" in bad.json()["message"]
    bea_cookies = await desk.login(agent, agent_password)
    async with httpx.AsyncClient(base_url=desk.base_url, cookies=bea_cookies) as http:
        refused = await http.get("/api/admin/outbox")
    assert refused.status_code == 403 and refused.json()["code"] == "admin_only"


async def test_a_running_desk_delivers_from_its_outbox_on_its_own(backend: Backend) -> None:
    """The web process's timers include the delivery loop (chat/dispatcher.py)."""
    settings = Settings.from_env(
        {},
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        bus_prefix=f"test-{uuid.uuid4().hex[:8]}",
        secret_key="s",
        public_url=DESK_URL,
    )
    runtime = await Runtime.start(settings, FakeClock(MONDAY), run_timers=True)
    try:
        assert "deliveries" in {t.get_name() for t in runtime.dispatcher._tasks}
        async with transaction(runtime.sessions) as session:
            await seed_services(session)
            ana = Customer(name="Ana", email="ana@shop.example")
            session.add(ana)
            await session.flush()
            await tickets.create(
                session,
                requester=ana,
                service_id=BILLING,
                subject="Hi",
                message="Hello",
                who=Who(Actor.CUSTOMER, ana.id, "Ana"),
                now=MONDAY,
            )
        async with asyncio.timeout(5):
            while [e.status for e in await _outbox(runtime.sessions)] != [DeliveryStatus.HELD]:
                await asyncio.sleep(0.05)
    finally:
        await runtime.stop()
