"""Emails to customers: which change sends what, to whom, threaded how (issue #5).

A listener of `ticketing/events.py`: it runs inside the change's transaction and
writes one `OutboxEmail` row per recipient (the requester and every CC address),
rendered in that person's language. Only public words leave: an internal note
never becomes an email, and personal links (confirm, reopen, rate) go to the
requester alone. Sending is the worker's job (`ticketing/deliveries.py`).

What is sent:

* ticket created (from chat, portal, email or an agent) — an acknowledgement;
* an agent's public reply — the reply;
* → pending — the agent's question (if a reply asked it) and "we need your answer";
* → resolved — the reply, with confirm / reopen links;
* → closed — the reason; if it was solved, one-click rating links;
* a reminder — "we are still waiting for your answer";
* the chat transcript, when the customer asks for it (`send_transcript`).

A reply that also changes the status is one email, not two: the status change
(emitted first, inside `tickets.reply`) carries the reply it finds of that moment,
and the reply's own event then sends nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing import events
from ticketing.errors import DeskError
from ticketing.mail_out import (
    Block,
    Letter,
    Links,
    MailSettings,
    Quote,
    Say,
    TranscriptLines,
    format_when,
    new_message_id,
    render,
    reply_address,
    settings_of,
    thread_root,
    ticket_url,
)
from ticketing.mail_templates import DEFAULT_LANG, LANGUAGES, language, words
from ticketing.models import (
    AuthorType,
    Customer,
    Survey,
    Ticket,
    TicketMessage,
    TicketOrigin,
    TicketStatus,
)
from ticketing.outbox import InboundEmail, OutboxEmail
from ticketing.portal_auth import sign_in_link_token
from ticketing.service import clean_emails
from ticketing.status import CloseReason
from ticketing.surveys import survey_link_token

# The widget could otherwise be used to mail our words to anyone, any number of times.
MAX_TRANSCRIPTS_PER_CHAT = 3
# Closes that ask for a rating: the request was answered, not dropped.
RATED_CLOSES = frozenset({CloseReason.APPROVED.value, CloseReason.SOLVED.value})
# RFC 3834: machine-made mail says so, so other robots don't answer it (no loops).
AUTO_GENERATED = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
AUTO_REPLIED = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
_ANSWERING_KEY = "chatdesk.mail.answering"
_CARRIED_KEY = "chatdesk.mail.carried"


class TranscriptUnavailable(DeskError):
    code = "transcript_unavailable"
    message = "The transcript can be emailed once the chat has ended."
    http_status = 409


class TooManyTranscripts(DeskError):
    code = "too_many_transcripts"
    message = f"A chat's transcript can be emailed at most {MAX_TRANSCRIPTS_PER_CHAT} times."
    http_status = 429


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    lang: str
    is_requester: bool
    customer_id: int | None


@contextmanager
def answering(session: AsyncSession, message_id: str) -> Iterator[None]:
    """Emails queued inside this block answer `message_id` (an email the customer sent)."""
    session.info[_ANSWERING_KEY] = message_id
    try:
        yield
    finally:
        session.info.pop(_ANSWERING_KEY, None)


# ------------------------------------------------------------------ the listener
@events.listen
async def email_customers(session: AsyncSession, event: events.DomainEvent) -> None:
    mail = settings_of(session)
    if mail is None or event.ticket_id is None:
        return  # a session without mail settings (a tool, a test) sends nothing
    if event.type == events.TICKET_CREATED:
        await _created(session, mail, event)
    elif event.type == events.TICKET_STATUS_CHANGED:
        await _status_changed(session, mail, event)
    elif event.type == events.TICKET_UPDATED and event.data.get("change") == "reply":
        await _agent_reply(session, mail, event)
    elif event.type == events.TICKET_REMINDER:
        ticket = await _ticket(session, event.ticket_id)
        await _send_all(session, mail, ticket, "reminder", (Say("reminder", _ids(ticket)),), event)


async def _created(session: AsyncSession, mail: MailSettings, event: events.DomainEvent) -> None:
    ticket = await _ticket(session, event.ticket_id)
    origin = ticket.origin
    blocks: tuple[Say | Quote, ...]
    if origin is TicketOrigin.CHAT and ticket.agent_id is not None:
        blocks = (Say("created.chat", _ids(ticket)),)  # they talked with somebody
    elif origin is TicketOrigin.CHAT:
        blocks = (Say("created.other", _ids(ticket)),)  # a missed chat: nobody answered yet
    elif origin is TicketOrigin.EMAIL:
        blocks = (Say("created.email", _ids(ticket)),)
    else:
        first = await session.scalar(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id, TicketMessage.internal.is_(False))
            .order_by(TicketMessage.id)
            .limit(1)
        )
        blocks = (Say("created.other", _ids(ticket)),)
        if first is not None:
            blocks += (Quote(first.author_name, first.body),)
    headers = AUTO_REPLIED if origin is TicketOrigin.EMAIL else AUTO_GENERATED
    # The ticket was made in this very transaction (events are heard inside it): unless
    # an inbound email started it, no email of its thread exists yet to look up.
    new_thread = origin is not TicketOrigin.EMAIL
    await _send_all(
        session, mail, ticket, "created", blocks, event, headers=headers, new_thread=new_thread
    )


async def _agent_reply(
    session: AsyncSession, mail: MailSettings, event: events.DomainEvent
) -> None:
    if event.data.get("internal") or event.data.get("actor") != "agent":
        return  # notes never leave; the customer's own words aren't echoed back
    if event.data.get("message_id") in _carried(session):
        return  # the status email this reply caused has carried it already
    ticket = await _ticket(session, event.ticket_id)
    message = await session.get(TicketMessage, event.data.get("message_id"))
    if message is None or message.internal:
        return
    blocks = (Say("reply", {**_ids(ticket), "agent": message.author_name}), Quote("", message.body))
    await _send_all(session, mail, ticket, "reply", blocks, event, headers={})


async def _status_changed(
    session: AsyncSession, mail: MailSettings, event: events.DomainEvent
) -> None:
    target = event.data.get("to")
    if target not in (TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return  # new and open concern the desk, not the customer
    ticket = await _ticket(session, event.ticket_id)
    said: tuple[Say | Quote, ...] = ()
    headers = AUTO_GENERATED
    if target != TicketStatus.CLOSED:  # a closed ticket takes no replies
        reply = await _reply_of_this_moment(session, ticket.id, event.at)
        if reply is not None:
            said = (
                Say("reply", {**_ids(ticket), "agent": reply.author_name}),
                Quote("", reply.body),
            )
            headers = {}  # a person wrote this one
            _carried(session).add(reply.id)
    if target == TicketStatus.PENDING:
        await _send_all(
            session, mail, ticket, "pending", (*said, Say("pending", _ids(ticket))), event, headers
        )
    elif target == TicketStatus.RESOLVED:
        await _send_all(session, mail, ticket, "resolved", said, event, headers, resolved=True)
    else:
        reason = event.data.get("reason") or ""
        key = (
            f"closed.{reason}" if f"closed.{reason}" in LANGUAGES[DEFAULT_LANG] else "closed.other"
        )
        rate = reason in RATED_CLOSES and not await _rated(session, ticket.id)
        if (
            rate
            and await session.scalar(select(Survey.id).where(Survey.ticket_id == ticket.id)) is None
        ):
            session.add(Survey(ticket_id=ticket.id, created_at=event.at))  # the question is asked
        await _send_all(
            session, mail, ticket, "closed", (Say(key, _ids(ticket)),), event, headers, rate=rate
        )


def _carried(session: AsyncSession) -> set[int]:
    """Replies already in a status email of this transaction (ids are unique: never stale)."""
    carried = session.info.setdefault(_CARRIED_KEY, set())
    assert isinstance(carried, set)
    return carried


async def _reply_of_this_moment(
    session: AsyncSession, ticket_id: int, at: dt.datetime
) -> TicketMessage | None:
    """The agent's public reply that made this status change, if one did."""
    return await session.scalar(
        select(TicketMessage)
        .where(
            TicketMessage.ticket_id == ticket_id,
            TicketMessage.internal.is_(False),
            TicketMessage.author_type == AuthorType.AGENT,
            TicketMessage.created_at == at,
        )
        .order_by(TicketMessage.id.desc())
        .limit(1)
    )


async def _rated(session: AsyncSession, ticket_id: int) -> bool:
    answered = await session.scalar(
        select(Survey.id).where(Survey.ticket_id == ticket_id, Survey.answered_at.is_not(None))
    )
    return answered is not None


# ------------------------------------------------------------------ recipients and threads
async def _ticket(session: AsyncSession, ticket_id: int | None) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:  # pragma: no cover - events name tickets of this very transaction
        raise LookupError(f"ticket {ticket_id} of an event does not exist")
    return ticket


def _ids(ticket: Ticket) -> dict[str, object]:
    return {"ticket_id": ticket.id}


async def recipients(session: AsyncSession, mail: MailSettings, ticket: Ticket) -> list[Recipient]:
    """The requester (if we know their address) and every CC, each once, never ourselves."""
    requester = await session.get(Customer, ticket.requester_id)
    found: list[Recipient] = []
    seen: set[str] = set()
    requester_lang = language(requester.lang if requester else None)
    if requester is not None and requester.email and not mail.accepts(requester.email):
        email = requester.email.lower()
        found.append(Recipient(email, requester.name, requester_lang, True, requester.id))
        seen.add(email)
    for address in ticket.cc or []:
        email = address.lower()
        if email in seen or mail.accepts(email):
            continue
        seen.add(email)
        known = await session.scalar(
            select(Customer).where(Customer.email == email).order_by(Customer.id).limit(1)
        )
        found.append(
            Recipient(
                email,
                known.name if known else "",
                language(known.lang) if known else requester_lang,
                False,
                known.id if known else None,
            )
        )
    return found


async def _thread(
    session: AsyncSession,
    mail: MailSettings,
    ticket: Ticket,
    recipient: str,
    new_thread: bool = False,
) -> tuple[str, str]:
    """(In-Reply-To, References): the last email this person saw of the ticket, and the root.
    A `new_thread` (a new ticket's notice, no inbound email behind it) has nothing to look
    up: its root is all it cites."""
    answering = session.info.get(_ANSWERING_KEY)
    if new_thread:
        root = answering or thread_root(mail, ticket.id)
        return root, root
    first_inbound = await session.scalar(  # the email that started the ticket, if one did
        select(InboundEmail.message_id)
        .where(InboundEmail.ticket_id == ticket.id, InboundEmail.outcome == "created")
        .limit(1)
    )
    root = first_inbound or answering or thread_root(mail, ticket.id)
    last_out = (
        await session.execute(
            select(OutboxEmail.message_id, OutboxEmail.created_at)
            .where(OutboxEmail.ticket_id == ticket.id, OutboxEmail.recipient == recipient)
            .order_by(OutboxEmail.id.desc())
            .limit(1)
        )
    ).first()
    last_in = (
        await session.execute(
            select(InboundEmail.message_id, InboundEmail.received_at)
            .where(
                InboundEmail.ticket_id == ticket.id, func.lower(InboundEmail.sender) == recipient
            )
            .order_by(InboundEmail.id.desc())
            .limit(1)
        )
    ).first()
    candidates = [row for row in (last_out, last_in) if row is not None]
    parent = answering or (max(candidates, key=lambda r: r[1])[0] if candidates else root)
    references = " ".join(dict.fromkeys([root, parent]))
    return parent, references


async def _send_all(
    session: AsyncSession,
    mail: MailSettings,
    ticket: Ticket,
    kind: str,
    blocks: tuple[Block, ...],
    event: events.DomainEvent,
    headers: dict[str, str] = AUTO_GENERATED,
    *,
    resolved: bool = False,
    rate: bool = False,
    new_thread: bool = False,
) -> None:
    for person in await recipients(session, mail, ticket):
        extra: tuple[Block, ...] = ()
        if resolved:
            extra = (Say("resolved", _ids(ticket)),)
            if person.is_requester and person.customer_id is not None:
                extra += (Links(_decision_links(mail, ticket, person.customer_id)),)
            else:
                extra += (Say("resolved.copied"),)
        if rate and person.is_requester:
            extra += (Say("rate"), Links(_rating_links(mail, ticket.id, person.lang)))
        letter = Letter(
            lang=person.lang,
            name=person.name,
            blocks=(*blocks, *extra),
            footer=Say("footer", _ids(ticket)),
            view_url=ticket_url(mail, ticket.id),
        )
        await queue_email(
            session,
            mail,
            kind=kind,
            ticket=ticket,
            to=person.email,
            letter=letter,
            subject=words(person.lang, "subject", ticket_id=ticket.id, subject=ticket.subject),
            headers=headers,
            now=event.at,
            new_thread=new_thread,
        )


def _decision_links(
    mail: MailSettings, ticket: Ticket, customer_id: int
) -> tuple[tuple[str, str], ...]:
    # The portal signs the customer in with the link, then opens the ticket's decision.
    token = sign_in_link_token(mail.secret_key, customer_id)
    base = f"{mail.public_url}/portal?signin={token}"
    return (
        ("action.confirm", f"{base}&action=confirm#/ticket/{ticket.id}"),
        ("action.reopen", f"{base}&action=reopen#/ticket/{ticket.id}"),
    )


def _rating_links(mail: MailSettings, ticket_id: int, lang: str) -> tuple[tuple[str, str], ...]:
    token = survey_link_token(mail.secret_key, ticket_id)
    return tuple(
        (f"rating.{n}", f"{mail.public_url}/survey?token={token}&rating={n}&lang={lang}")
        for n in range(5, 0, -1)
    )


_QUEUE_EMAIL = insert(OutboxEmail.__table__).returning(OutboxEmail.__table__.c.id)


async def queue_email(
    session: AsyncSession,
    mail: MailSettings,
    *,
    kind: str,
    ticket: Ticket,
    to: str,
    letter: Letter,
    subject: str,
    headers: dict[str, str],
    now: dt.datetime,
    chat_id: int | None = None,
    new_thread: bool = False,
) -> OutboxEmail:
    """Render `letter` and put it in the outbox, threaded with the ticket's other emails
    (`new_thread`: it has none yet, see `_thread`)."""
    text, html = render(letter)
    in_reply_to, references = await _thread(session, mail, ticket, to, new_thread)
    values = {
        "kind": kind,
        "ticket_id": ticket.id,
        "chat_id": chat_id if chat_id is not None else ticket.chat_id,
        "sender": mail.sender,
        "recipient": to,
        "lang": language(letter.lang),
        "subject": " ".join(subject.split())[:300],  # one line: a header can't hold a break
        "message_id": new_message_id(mail, ticket.id),
        "in_reply_to": in_reply_to,
        "references": references,
        "reply_to": reply_address(mail, ticket.id),
        "headers": dict(headers),
        "text_body": text,
        "html_body": html,
        "created_at": now,
        "next_attempt_at": now,
    }
    # A plain INSERT (its other columns take their defaults), not an ORM object and a
    # flush: a chat's conversion queues one for every ticket of a burst of endings.
    email_id = await session.scalar(_QUEUE_EMAIL, values)
    return OutboxEmail(id=email_id, **values)


# ------------------------------------------------------------------ the transcript
async def send_transcript(
    session: AsyncSession, chat_id: int, email: str, now: dt.datetime
) -> OutboxEmail:
    """Email a finished chat's transcript (public lines only) to the address the customer gave.

    The caller checks that the chat is this customer's; this checks the address, that
    the chat has ended (its ticket exists) and that it isn't mailed too often.
    """
    mail = settings_of(session)
    if mail is None:
        raise TranscriptUnavailable("Email is not set up on this desk.")
    address = clean_emails([email], limit=1)[0]
    ticket = await session.scalar(select(Ticket).where(Ticket.chat_id == chat_id))
    if ticket is None:
        raise TranscriptUnavailable()
    sent = await session.scalar(
        select(func.count())
        .select_from(OutboxEmail)
        .where(OutboxEmail.ticket_id == ticket.id, OutboxEmail.kind == "transcript")
    )
    if (sent or 0) >= MAX_TRANSCRIPTS_PER_CHAT:
        raise TooManyTranscripts()
    customer = await session.get(Customer, ticket.requester_id)
    lang = language(customer.lang if customer else None)
    # The chat's own lines were copied into the ticket when it was converted; later
    # replies belong to the ticket, not to the chat.
    lines = await session.scalars(
        select(TicketMessage)
        .where(
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.internal.is_(False),
            TicketMessage.created_at <= ticket.created_at,
        )
        .order_by(TicketMessage.created_at, TicketMessage.id)
    )
    transcript = tuple(
        (m.created_at.astimezone(dt.UTC).strftime("%H:%M"), m.author_name or "-", m.body)
        for m in lines
    )
    when = format_when(ticket.created_at)
    letter = Letter(
        lang=lang,
        name=customer.name if customer and customer.email == address else "",
        blocks=(
            Say("transcript", {"date": when, "ticket_id": ticket.id}),
            TranscriptLines(transcript),
        ),
        footer=Say("footer.transcript"),
        reply_marker=False,
    )
    return await queue_email(
        session,
        mail,
        kind="transcript",
        ticket=ticket,
        to=address,
        letter=letter,
        subject=words(lang, "subject.transcript", date=when),
        headers=AUTO_GENERATED,
        now=now,
        chat_id=chat_id,
    )
