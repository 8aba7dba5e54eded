"""Hostile strings through every kind of email: escaped in HTML, as written in text.

Every string a person chose — their name, an agent's name, a subject, a message, a
chat line, an attached file's name, their organization's name — is pushed through
each email the desk sends (ticket created, agent reply, pending, resolved, closed,
chat transcript) with the whole corpus of tests/xss_corpus.py. (File and
organization names are not in any email today; they are set anyway, so the day a
template shows them this test checks them too.) Each email is then built as it
goes over SMTP and parsed back with the `email` package: the HTML part may hold
only our own tags, attributes and links; the text part holds the strings exactly
as written; line breaks in names and subjects never become headers.
"""

from __future__ import annotations

import datetime as dt
import email
import re
import uuid
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.seed import create_agent
from tests.ticketing.mailroom import DESK_URL, mail_settings, with_mail
from tests.xss_corpus import CORPUS, HEADER_INJECTIONS
from ticketing.conversion import FinishedChat, TranscriptLine, convert_chat
from ticketing.db import transaction
from ticketing.mail_out import build_message
from ticketing.models import Attachment, AuthorType, Customer, Organization, TicketStatus
from ticketing.notifications import send_transcript
from ticketing.outbox import OutboxEmail
from ticketing.service import Who, locked_ticket, tickets
from ticketing.status import Actor, CloseReason

Sessions = async_sessionmaker[AsyncSession]
MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
BILLING = 3
# What our templates may produce; anything else came from somebody's text.
OUR_TAGS = {"html", "head", "meta", "body", "p", "a", "strong", "blockquote", "br", "table"}
OUR_TAGS |= {"tr", "td"}
OUR_ATTRIBUTES = {"lang", "charset", "style", "href"}
KINDS = {"created", "reply", "pending", "resolved", "closed", "transcript"}


class _Markup(HTMLParser):
    """Every tag, attribute and link of an HTML part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if name == "href":
                self.links.append(value or "")


def _at(minutes: float) -> dt.datetime:
    return MONDAY + dt.timedelta(minutes=minutes)


async def _every_kind_of_email(sessions: Sessions, payload: str, n: int) -> list[OutboxEmail]:
    """One ticket's life and one chat's transcript, every chosen string being `payload`."""
    async with transaction(sessions) as session:
        organization = Organization(name=payload[:120], domain=f"org{n}.example")
        session.add(organization)
        await session.flush()
        customer = Customer(
            name=payload,
            email=f"ana{n}@shop.example",
            lang="en",
            organization_id=organization.id,
        )
        session.add(customer)
        agent = await create_agent(session, f"bea{n}@desk.test", payload, "secret-pass")
        await session.flush()
        customer_id, agent_id = customer.id, agent.id
    who_customer = Who(Actor.CUSTOMER, customer_id, payload)
    who_agent = Who(Actor.AGENT, agent_id, payload)
    async with transaction(sessions) as session:
        requester = await session.get(Customer, customer_id)
        assert requester is not None
        ticket = await tickets.create(
            session,
            requester=requester,
            service_id=BILLING,
            subject=payload[:200],
            message=payload,
            who=who_customer,
            now=_at(0),
        )
        ticket_id = ticket.id
    steps = [
        (TicketStatus.PENDING, 1),
        (None, 2),
        (TicketStatus.RESOLVED, 3),
    ]
    for status, minute in steps:
        async with transaction(sessions) as session:
            ticket = await locked_ticket(session, ticket_id)
            reply = await tickets.reply(
                session, ticket, who_agent, payload, _at(minute), set_status=status
            )
            session.add(
                Attachment(
                    ticket_id=ticket_id,
                    message_id=reply.id,
                    filename=payload[:255],
                    content_type="text/plain",
                    size=1,
                    storage_key=uuid.uuid4().hex,
                    uploaded_by=AuthorType.AGENT,
                    uploader_id=agent_id,
                )
            )
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.change_status(
            session, ticket, TicketStatus.CLOSED, who_customer, _at(4), CloseReason.APPROVED
        )
    chat = FinishedChat(
        chat_id=1000 + n,
        service_id=BILLING,
        customer_id=customer_id,
        agent_id=agent_id,
        subject=payload[:200],
        status=TicketStatus.RESOLVED,
        ask_for_rating=False,
        transcript=[
            TranscriptLine(AuthorType.CUSTOMER, customer_id, payload, payload, _at(5)),
            TranscriptLine(AuthorType.AGENT, agent_id, payload, payload, _at(6)),
        ],
    )
    async with transaction(sessions) as session:
        await convert_chat(session, chat, _at(7))
    async with transaction(sessions) as session:
        await send_transcript(session, chat.chat_id, f"ana{n}@shop.example", _at(8))
    async with sessions() as session:
        return list(
            await session.scalars(
                select(OutboxEmail)
                .where(OutboxEmail.recipient == f"ana{n}@shop.example")
                .order_by(OutboxEmail.id)
            )
        )


def _parsed(row: OutboxEmail) -> EmailMessage:
    """The email as a mail client reads it after SMTP."""
    message = email.message_from_bytes(bytes(build_message(row)), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def assert_inert(row: OutboxEmail, payload: str) -> None:
    message = _parsed(row)
    kind = row.kind
    text, html = _parts(message)
    markup = _Markup()
    markup.feed(html)
    assert markup.tags <= OUR_TAGS, (kind, payload, markup.tags - OUR_TAGS)
    assert markup.attributes <= OUR_ATTRIBUTES, (kind, payload, markup.attributes)
    for link in markup.links:
        assert link.startswith(DESK_URL + "/"), (kind, payload, link)
    if any(c in payload for c in "<>\"'&"):
        assert payload not in html, (kind, payload)  # only ever escaped
    if "7*7" in payload:  # template syntax is text, never evaluated
        # Links carry random tokens (confirm, reopen, rate), which may hold a "49".
        prose = re.sub(r"https?://\S+", "", text.replace(payload, ""))
        assert payload in text and "49" not in prose, (kind, payload)
    # The text part keeps what people wrote, as written (no entities).
    assert payload.splitlines()[0] in text, (kind, payload)
    assert "&lt;" not in text or "&lt;" in payload, (kind, payload)


def assert_one_header_each(row: OutboxEmail) -> None:
    message = _parsed(row)
    assert message.get_all("Bcc") is None and message.get_all("Cc") is None, row.kind
    assert message.get_all("To") == [row.recipient], row.kind
    subject = message["Subject"]
    assert subject is not None and "\r" not in str(subject) and "\n" not in str(subject)
    for name in message.keys():
        assert name.lower() != "bcc", (row.kind, name)


async def test_every_email_escapes_hostile_strings_in_html_and_keeps_them_in_text(
    sessions: Sessions,
) -> None:
    with_mail(sessions, mail_settings())
    for n, payload in enumerate(CORPUS):
        rows = await _every_kind_of_email(sessions, payload, n)
        assert {r.kind for r in rows} >= KINDS, (payload, [r.kind for r in rows])
        for row in rows:
            assert_inert(row, payload)
            assert_one_header_each(row)


async def test_line_breaks_in_names_and_subjects_never_become_headers(
    sessions: Sessions,
) -> None:
    with_mail(sessions, mail_settings())
    for n, payload in enumerate(HEADER_INJECTIONS, start=100):
        rows = await _every_kind_of_email(sessions, payload, n)
        assert {r.kind for r in rows} >= KINDS, (payload, [r.kind for r in rows])
        for row in rows:
            assert_one_header_each(row)
            head = bytes(build_message(row)).split(b"\n\n", 1)[0]  # the top-level headers
            lines = head.lower().splitlines()
            assert not any(line.startswith(b"bcc:") for line in lines), (row.kind, head)
            _, html = _parts(_parsed(row))
            assert "<script>" not in html, row.kind
