"""Incoming email over real SMTP: new tickets, replies, duplicates, robots and bad mail."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.seed import create_agent
from tests.ticketing.mailroom import mail_settings, mailbox, with_mail
from ticketing.clock import FakeClock
from ticketing.db import transaction
from ticketing.deliveries import Deliverer
from ticketing.mail_out import MailSettings, reply_address
from ticketing.mail_parse import MailRejected, html_to_text, parse_email, strip_reply
from ticketing.mail_server import DeskMailHandler, mail_server
from ticketing.models import (
    Attachment,
    Customer,
    Organization,
    OrganizationContact,
    Ticket,
    TicketMessage,
    TicketOrigin,
    TicketStatus,
)
from ticketing.outbox import InboundEmail, OutboxEmail
from ticketing.service import Who, locked_ticket, tickets
from ticketing.status import Actor, CloseReason

Sessions = async_sessionmaker[AsyncSession]
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
SUPPORT = "support@desk.example.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Inbox:
    """Our SMTP receiver, listening on a free port, and a way to write to it."""

    port: int
    mail: MailSettings
    sessions: Sessions
    files: Path

    async def send(
        self,
        message: EmailMessage | bytes,
        *,
        sender: str = "ana@shop.example",
        to: str = SUPPORT,
    ) -> str:
        """Deliver like a mail server would; returns our SMTP answer."""
        _, answer = await aiosmtplib.send(
            message, sender=sender, recipients=[to], hostname="127.0.0.1", port=self.port
        )
        return answer

    async def tickets(self) -> list[Ticket]:
        async with self.sessions() as session:
            return list(await session.scalars(select(Ticket).order_by(Ticket.id)))

    async def thread(self, ticket_id: int) -> list[str]:
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(TicketMessage.body)
                    .where(TicketMessage.ticket_id == ticket_id)
                    .order_by(TicketMessage.id)
                )
            )

    async def count(self, model: type) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def inbox(sessions: Sessions, tmp_path: Path) -> AsyncIterator[Inbox]:
    mail = mail_settings(max_email_bytes=200_000)
    with_mail(sessions, mail)
    files = tmp_path / "attachments"
    files.mkdir()
    handler = DeskMailHandler(sessions, mail, FakeClock(NOW), files)
    async with mail_server(handler, "127.0.0.1", 0) as port:
        yield Inbox(port, mail, sessions, files)


def email(
    body: str = "My invoice INV-7 was charged twice.",
    *,
    sender: str = "Ana Lima <ana@shop.example>",
    to: str = SUPPORT,
    subject: str = "Charged twice",
    message_id: str | None = None,
    **headers: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@shop.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


# ------------------------------------------------------------------ new tickets
async def test_an_email_from_a_stranger_opens_a_ticket_and_is_acknowledged_in_its_thread(
    inbox: Inbox,
) -> None:
    first = email(Cc="Chefe <boss@shop.example>, support@desk.example.com")
    answer = await inbox.send(first)
    [ticket] = await inbox.tickets()
    assert answer.startswith("2.0.0 created ticket")
    assert ticket.origin is TicketOrigin.EMAIL and ticket.subject == "Charged twice"
    assert ticket.cc == ["boss@shop.example"]  # our own address is never copied
    assert await inbox.thread(ticket.id) == ["My invoice INV-7 was charged twice."]
    async with inbox.sessions() as session:
        ana = await session.get(Customer, ticket.requester_id)
        acks = list(await session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))
    assert ana is not None and (ana.name, ana.email) == ("Ana Lima", "ana@shop.example")
    assert {a.recipient for a in acks} == {"ana@shop.example", "boss@shop.example"}
    ack = next(a for a in acks if a.recipient == "ana@shop.example")
    assert ack.kind == "created" and ack.in_reply_to == first["Message-ID"]
    assert ack.references == first["Message-ID"]  # threads under the customer's email
    assert ack.headers["Auto-Submitted"] == "auto-replied"


async def test_the_same_email_delivered_twice_is_stored_once(inbox: Inbox) -> None:
    message = email()
    await inbox.send(message)
    again = await inbox.send(message)
    assert again.startswith("2.0.0 duplicate")
    assert len(await inbox.tickets()) == 1 and await inbox.count(InboundEmail) == 1


async def test_a_sender_of_an_organizations_domain_is_linked_and_its_contacts_copied(
    inbox: Inbox,
) -> None:
    async with transaction(inbox.sessions) as session:
        org = Organization(name="Shop", domain="shop.example", requires_approval=False)
        carla = Customer(name="Carla", email="carla@shop.example")
        session.add_all([org, carla])
        await session.flush()
        session.add(OrganizationContact(organization_id=org.id, customer_id=carla.id))
    await inbox.send(email())
    [ticket] = await inbox.tickets()
    assert ticket.organization_id == org.id and ticket.cc == ["carla@shop.example"]
    async with inbox.sessions() as session:
        ana = await session.scalar(select(Customer).where(Customer.email == "ana@shop.example"))
    assert ana is not None and ana.organization_id == org.id


async def test_attachments_within_limits_are_kept_and_the_others_named(inbox: Inbox) -> None:
    message = email("Screenshot attached.")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="screen.png")
    message.add_attachment(
        b"MZ\x90\x00\x03" + bytes(range(256)),
        maintype="application",
        subtype="octet-stream",
        filename="setup.exe",
    )
    await inbox.send(message)
    [ticket] = await inbox.tickets()
    [body] = await inbox.thread(ticket.id)
    assert body.startswith("Screenshot attached.")
    assert "[Attachment not kept: setup.exe: This kind of file can't be attached." in body
    async with inbox.sessions() as session:
        [stored] = list(await session.scalars(select(Attachment)))
    assert (stored.filename, stored.content_type, stored.size) == ("screen.png", "image/png", 72)
    assert (inbox.files / stored.storage_key).read_bytes() == PNG


# ------------------------------------------------------------------ answers
async def _agent_asks(inbox: Inbox, ticket_id: int, question: str = "Which invoice?") -> None:
    async with transaction(inbox.sessions) as session:
        bea = await create_agent(session, f"bea{ticket_id}@desk.test", "Bea", "secret-pass")
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(
            session,
            ticket,
            Who(Actor.AGENT, bea.id, "Bea"),
            question,
            NOW,
            set_status=TicketStatus.PENDING,
        )


async def test_an_answer_to_the_reply_to_address_joins_the_ticket_and_reopens_it(
    inbox: Inbox,
) -> None:
    await inbox.send(email())
    [ticket] = await inbox.tickets()
    await _agent_asks(inbox, ticket.id)
    answer = email(
        "It is INV-7.\n\nThanks\n-- \nAna Lima\nShop Ltd\n\n"
        "On Wed, 25 Nov 2026 at 10:00, Support <support@desk.example.com> wrote:\n"
        "> Which invoice?\n",
        to=reply_address(inbox.mail, ticket.id),
        subject=f"Re: [#{ticket.id}] Charged twice",
    )
    said = await inbox.send(answer, to=reply_address(inbox.mail, ticket.id))
    assert said.startswith(f"2.0.0 replied ticket {ticket.id}")
    [same] = await inbox.tickets()
    assert same.status is TicketStatus.OPEN  # the customer answered: back to the agent
    assert (await inbox.thread(ticket.id))[-1] == "It is INV-7.\n\nThanks"


async def test_round_trip_the_customer_answers_the_email_we_sent(inbox: Inbox) -> None:
    """What our SMTP sends comes back through our SMTP receiver into the same ticket."""
    await inbox.send(email())
    [ticket] = await inbox.tickets()
    await _agent_asks(inbox, ticket.id, "Could you send the invoice number?")
    async with mailbox() as box:
        async with Deliverer(inbox.sessions, mail_settings(box.port)) as deliverer:
            await deliverer.send_emails(NOW)
    [asked] = [m for m in box.to("ana@shop.example") if "invoice number" in m.as_string()]
    text = asked.get_body(("plain",))
    assert text is not None and "Could you send the invoice number?" in text.get_content()
    answer = email(
        "INV-7, sorry for the delay\n\n" + text.get_content().replace("\n", "\n> "),
        to=str(asked["Reply-To"]),
        subject=f"Re: {asked['Subject']}",
        In_Reply_To=str(asked["Message-ID"]),
        References=f"{asked['References']} {asked['Message-ID']}",
    )
    await inbox.send(answer, to=str(asked["Reply-To"]))
    assert (await inbox.thread(ticket.id))[-1] == "INV-7, sorry for the delay"
    assert (await inbox.tickets())[0].status is TicketStatus.OPEN


async def test_an_answer_found_by_its_references_alone_joins_the_ticket(inbox: Inbox) -> None:
    first = email()
    await inbox.send(first)
    [ticket] = await inbox.tickets()
    follow_up = email(
        "One more thing: INV-8 too.",
        In_Reply_To=str(first["Message-ID"]),
        References=str(first["Message-ID"]),
    )
    await inbox.send(follow_up)
    assert len(await inbox.tickets()) == 1
    assert (await inbox.thread(ticket.id))[-1] == "One more thing: INV-8 too."


async def test_a_stranger_or_a_closed_ticket_gets_a_new_ticket_instead(inbox: Inbox) -> None:
    await inbox.send(email())
    [ticket] = await inbox.tickets()
    token_address = reply_address(inbox.mail, ticket.id)
    await inbox.send(
        email("Let me in", sender="mallory@evil.test", to=token_address),
        sender="mallory@evil.test",
        to=token_address,
    )
    async with transaction(inbox.sessions) as session:
        locked = await locked_ticket(session, ticket.id)
        await tickets.change_status(
            session,
            locked,
            TicketStatus.CLOSED,
            Who(Actor.AGENT, None, "Bea"),
            NOW,
            CloseReason.CANCELLED,
        )
    await inbox.send(email("Me again", to=token_address), to=token_address)
    first, stranger, reopened = await inbox.tickets()
    assert await inbox.thread(first.id) == ["My invoice INV-7 was charged twice."]
    assert await inbox.thread(stranger.id) == ["Let me in"]
    assert stranger.requester_id != first.requester_id
    assert await inbox.thread(reopened.id) == ["Me again"]  # closed is final


# ------------------------------------------------------------------ robots and bad mail
@pytest.mark.parametrize(
    ("headers", "envelope_sender"),
    [
        ({"Auto_Submitted": "auto-replied"}, "ana@shop.example"),
        ({"Precedence": "bulk"}, "ana@shop.example"),
        ({"X_Autoreply": "yes"}, "ana@shop.example"),
        ({}, ""),  # a bounce: empty return path
    ],
)
async def test_auto_replies_and_bounces_never_make_tickets_or_loops(
    inbox: Inbox, headers: dict[str, str], envelope_sender: str
) -> None:
    answer = await inbox.send(email("I am out of office", **headers), sender=envelope_sender)
    assert answer.startswith("2.0.0 ignored")
    assert await inbox.tickets() == [] and await inbox.count(OutboxEmail) == 0
    async with inbox.sessions() as session:
        [record] = list(await session.scalars(select(InboundEmail)))
    assert record.outcome == "ignored" and record.reason


async def test_a_delivery_report_from_the_mailer_daemon_is_dropped(inbox: Inbox) -> None:
    report = (
        b"From: Mail Delivery System <MAILER-DAEMON@shop.example>\r\n"
        b"To: support@desk.example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <dsn-1@shop.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n"
        b"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; shop.example\r\n\r\n--b1--\r\n"
    )
    assert (await inbox.send(report, sender="ana@shop.example")).startswith("2.0.0 ignored")
    assert await inbox.tickets() == []


async def _refused(inbox: Inbox, raw: EmailMessage | bytes, **kwargs: str) -> str:
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await inbox.send(raw, **kwargs)
    return f"{refused.value.code} {refused.value.message}"


async def test_bad_mail_is_refused_with_a_clear_smtp_error_and_nothing_is_stored(
    inbox: Inbox,
) -> None:
    no_sender = email(sender="")
    del no_sender["From"]
    assert (await _refused(inbox, no_sender)).startswith("550 5.1.7 The message has no sender")
    huge = email("x" * 250_000)
    assert (await _refused(inbox, huge)).startswith("552 5.3.4 The message is larger than")
    enormous = email("x" * 600_000)  # past the receiver's hard limit: it stops reading
    assert (await _refused(inbox, enormous)).startswith("552")
    broken = (
        b"From: ana@shop.example\r\nTo: support@desk.example.com\r\nSubject: broken\r\n"
        b"Message-ID: <broken@shop.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nno boundary anywhere\r\n"
    )
    assert (await _refused(inbox, broken)).startswith("550 5.6.0 Malformed MIME")
    empty = email(" \n ")
    assert (await _refused(inbox, empty)).startswith("550 5.6.0 The message has no text")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as stranger:
        await inbox.send(email(), to="someone@elsewhere.test")
    assert stranger.value.recipients[0].code == 550
    assert "no such mailbox" in stranger.value.recipients[0].message
    assert await inbox.tickets() == []
    assert await inbox.count(InboundEmail) == 0 and await inbox.count(Customer) == 0
    assert list(inbox.files.iterdir()) == []


async def test_a_refused_email_leaves_no_file_behind(inbox: Inbox) -> None:
    message = email(" ")
    message.add_attachment(
        b"MZ\x90\x00" + bytes(range(256)),
        maintype="application",
        subtype="octet-stream",
        filename="x.exe",
    )
    message.add_attachment(PNG, maintype="image", subtype="png", filename="ok.png")
    # Kept files are written before the transaction; when it fails they are removed.
    async with transaction(inbox.sessions) as session:
        session.add(
            InboundEmail(message_id=str(message["Message-ID"]), outcome="created", received_at=NOW)
        )
    answer = await inbox.send(message)  # the duplicate check answers first: nothing written
    assert answer.startswith("2.0.0 duplicate") and list(inbox.files.iterdir()) == []


# ------------------------------------------------------------------ the words of a reply
@pytest.mark.parametrize(
    ("written", "kept"),
    [
        (
            "Yes, thanks!\n\nOn Tue, 24 Nov 2026 at 09:00, Bea <support@desk.example.com> "
            "wrote:\n> Did it work?",
            "Yes, thanks!",
        ),
        (
            "Sim, obrigado!\n\nEm ter., 24 de nov. de 2026 às 09:00, Bea\n"
            "<support@desk.example.com> escreveu:\n> Funcionou?",
            "Sim, obrigado!",
        ),
        (
            "Ja, bedankt!\n\nOp di 24 nov. 2026 om 09:00 schreef Bea <support@desk.example.com>:\n"
            "> Werkt het?",
            "Ja, bedankt!",
        ),
        (
            "Works now.\n\n________________________________\nFrom: Support <support@x.test>\n"
            "Sent: Tuesday\nTo: Ana\nSubject: Re: thing",
            "Works now.",
        ),
        ("Works now.\n\nFrom: Support <support@x.test>\nSent: Tuesday\n", "Works now."),
        ("Works now.\n-- \nAna Lima | Shop Ltd", "Works now."),
        ("Works now.\n\nSent from my iPhone", "Works now."),
        ("Works now.\n\n##- Escreva sua resposta acima desta linha -##\nOlá, Ana,", "Works now."),
        (
            "Inline:\n> question one\nanswer one\n> question two\n",
            "Inline:\n> question one\nanswer one",
        ),
    ],
)
def test_quoted_history_and_signatures_are_cut_from_an_answer(written: str, kept: str) -> None:
    assert strip_reply(written) == kept


def test_html_only_mail_is_read_as_text_without_its_quoted_history() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body><div>Fixed, <b>thanks</b>!</div>"
        '<div>Ana</div><script>alert(1)</script><div class="gmail_quote">On Tue, Bea wrote:'
        "<blockquote>Did it work?</blockquote></div></body></html>"
    )
    assert html_to_text(html) == "Fixed, thanks!\nAna"


_VALID = email(Cc="boss@shop.example").as_bytes()


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, len(_VALID)),
    noise=st.binary(max_size=200),
    header=st.sampled_from(
        [
            b"",
            b"Content-Type: multipart/mixed\r\n",
            b"Content-Type: text/plain; charset=nope\r\n",
            b"From: \r\n",
            b"From: <@>\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"References: <<<>>\r\n",
            b"To: =?utf-8?q?=ZZ?= <x@y>\r\n",
        ]
    ),
)
def test_any_bytes_are_read_or_refused_as_malformed_never_crash(
    cut: int, noise: bytes, header: bytes
) -> None:
    raw = header + _VALID[:cut] + noise + _VALID[cut:]
    try:
        parse_email(raw, mail_settings(), envelope_from="a@b.test", recipients=[SUPPORT])
    except MailRejected as refused:
        assert refused.code in (550, 552) and refused.reply.startswith(f"{refused.code} 5.")
