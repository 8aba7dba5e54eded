"""Incoming email: a new ticket, or the customer's answer to one (issue #5, "Incoming email").

`receive_email` takes the raw bytes the SMTP receiver (`ticketing/mail_server.py`)
got and, in one transaction, either stores it or changes nothing:

* bad mail (too big, no sender, broken MIME) is refused with an SMTP error;
* bounces and auto-replies are recorded and dropped: never a ticket, never a loop;
* the same email twice (same Message-ID) is stored once;
* an answer to a ticket — found by our signed Reply-To address, or by In-Reply-To /
  References naming one of the ticket's emails — joins that ticket with quoted
  history and signature cut off, moving a pending ticket back to open. Only the
  requester and the ticket's CC addresses can answer; anyone else starts a ticket;
* anything else starts a ticket for the sender (a new contact if we don't know
  them; an organization's designated contacts are copied, as `tickets.create` does).

Attachments within `ticketing/attachments.py`'s limits are kept; the others are
named in the message so the agent knows something was left out.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketing import attachments as files
from ticketing.db import transaction
from ticketing.errors import DeskError
from ticketing.mail_out import MailSettings
from ticketing.mail_parse import Incoming, MailRejected, parse_email, strip_reply
from ticketing.models import (
    Attachment,
    AuthorType,
    Customer,
    Service,
    Ticket,
    TicketMessage,
    TicketOrigin,
    TicketStatus,
)
from ticketing.notifications import answering
from ticketing.outbox import InboundEmail, OutboxEmail
from ticketing.service import MAX_BODY_CHARS, MAX_CC, Who, clean_emails, locked_ticket, tickets
from ticketing.status import Actor

log = logging.getLogger("ticketing.mail_in")

MAX_ATTACHMENTS = 10  # per email; more is a mass mailing, not a support request
NO_SUBJECT = "(no subject)"
ATTACHMENTS_ONLY = "(attachments only)"


@dataclass(frozen=True)
class Received:
    """What became of one email."""

    outcome: str  # created, replied, duplicate, ignored
    message_id: str
    ticket_id: int | None = None
    reason: str | None = None


# ------------------------------------------------------------------ storing
async def receive_email(
    sessions: async_sessionmaker[AsyncSession],
    mail: MailSettings,
    raw: bytes,
    *,
    envelope_from: str | None,
    recipients: list[str],
    now: dt.datetime,
    attachments_dir: Path | None = None,
) -> Received:
    """Store one email (see the module's docstring); all of it, or nothing."""
    incoming = parse_email(raw, mail, envelope_from=envelope_from, recipients=recipients)
    stored: list[files.StoredFile] = []
    try:
        async with transaction(sessions) as session:
            seen = await session.scalar(
                select(InboundEmail.id).where(InboundEmail.message_id == incoming.message_id)
            )
            if seen is not None:
                return Received("duplicate", incoming.message_id)
            record = InboundEmail(
                message_id=incoming.message_id,
                sender=incoming.sender,
                subject=incoming.subject[:300],
                outcome="ignored",
                size=len(raw),
                received_at=now,
            )
            if incoming.auto is not None:
                record.reason = incoming.auto
                session.add(record)
                log.info(
                    "ignored %s from %s: %s", incoming.message_id, incoming.sender, incoming.auto
                )
                return Received("ignored", incoming.message_id, reason=incoming.auto)
            kept, notes = _keep_files(incoming.files, attachments_dir, stored)
            ticket = await _answered_ticket(session, incoming)
            if ticket is not None:
                message = await _add_reply(session, ticket, incoming, notes, bool(kept), now)
                record.outcome = "replied"
            else:
                ticket, message = await _new_ticket(session, mail, incoming, notes, bool(kept), now)
                record.outcome = "created"
            record.ticket_id = ticket.id
            session.add(record)
            for name, stored_file in kept:
                session.add(_attachment(ticket, message, name, stored_file, now))
            await session.flush()
            result = Received(record.outcome, incoming.message_id, ticket.id)
    except DeskError as exc:  # a rule of the desk refused it (e.g. a message too long)
        _discard(stored, attachments_dir)
        raise MailRejected(550, "5.6.0", exc.message) from None
    except IntegrityError:
        _discard(stored, attachments_dir)
        # The same email, delivered to another process a moment earlier, won the insert.
        async with sessions() as session:
            if await session.scalar(
                select(InboundEmail.id).where(InboundEmail.message_id == incoming.message_id)
            ):
                return Received("duplicate", incoming.message_id)
        raise
    except BaseException:
        _discard(stored, attachments_dir)
        raise
    log.info(
        "%s ticket %s from %s (%s)",
        result.outcome,
        result.ticket_id,
        incoming.sender,
        incoming.message_id,
    )
    return result


def _keep_files(
    found: list[tuple[str, bytes]], directory: Path | None, stored: list[files.StoredFile]
) -> tuple[list[tuple[str, files.StoredFile]], list[str]]:
    kept: list[tuple[str, files.StoredFile]] = []
    notes: list[str] = []
    for index, (name, data) in enumerate(found):
        filename = files.safe_filename(name)
        if index >= MAX_ATTACHMENTS:
            notes.append(f"{filename}: more than {MAX_ATTACHMENTS} attachments")
            continue
        try:
            stored_file = files.store(data, directory)
        except (files.AttachmentRefused, files.AttachmentTooLarge) as exc:
            notes.append(f"{filename}: {exc.message}")
            continue
        stored.append(stored_file)
        kept.append((filename, stored_file))
    return kept, notes


def _discard(stored: list[files.StoredFile], directory: Path | None) -> None:
    for stored_file in stored:
        files.path_of(stored_file.storage_key, directory).unlink(missing_ok=True)


def _attachment(
    ticket: Ticket, message: TicketMessage, name: str, stored: files.StoredFile, now: dt.datetime
) -> Attachment:
    return Attachment(
        ticket_id=ticket.id,
        message_id=message.id,
        filename=name,
        content_type=stored.content_type,
        size=stored.size,
        storage_key=stored.storage_key,
        uploaded_by=AuthorType.CUSTOMER,
        uploader_id=message.author_id,
        created_at=now,
    )


def _body(text: str, notes: list[str], has_files: bool) -> str:
    if notes:
        text += "\n\n" + "\n".join(f"[Attachment not kept: {note}]" for note in notes)
    text = text.strip() or (ATTACHMENTS_ONLY if has_files else "")
    if not text:
        raise MailRejected(550, "5.6.0", "The message has no text.")
    if len(text) > MAX_BODY_CHARS:
        text = text[: MAX_BODY_CHARS - 20].rstrip() + "\n[… shortened]"
    return text


async def _answered_ticket(session: AsyncSession, incoming: Incoming) -> Ticket | None:
    """The open ticket this email answers, if the sender may answer it."""
    ticket_id = incoming.ticket_hint
    if ticket_id is None and incoming.answers:
        for model, column in (
            (OutboxEmail, OutboxEmail.message_id),
            (InboundEmail, InboundEmail.message_id),
        ):
            ticket_id = await session.scalar(
                select(model.ticket_id)
                .where(column.in_(incoming.answers), model.ticket_id.is_not(None))
                .order_by(model.id.desc())
                .limit(1)
            )
            if ticket_id is not None:
                break
    if ticket_id is None:
        return None
    ticket = await session.get(Ticket, ticket_id)
    if ticket is not None and ticket.merged_into_id is not None:
        ticket = await session.get(Ticket, ticket.merged_into_id)  # answers go where it went
    if ticket is None or ticket.status is TicketStatus.CLOSED:
        return None  # closed is final: the answer starts a new ticket
    requester = await session.get(Customer, ticket.requester_id)
    allowed = {a.lower() for a in ticket.cc or []}
    if requester is not None and requester.email:
        allowed.add(requester.email.lower())
    return ticket if incoming.sender in allowed else None


async def _customer(session: AsyncSession, incoming: Incoming) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.email == incoming.sender).order_by(Customer.id).limit(1)
    )
    if customer is None:
        customer = Customer(
            name=incoming.sender_name or incoming.sender.partition("@")[0],
            email=incoming.sender,
            lang=incoming.lang,
        )
        session.add(customer)
        await session.flush()
    return customer


async def _add_reply(
    session: AsyncSession,
    ticket: Ticket,
    incoming: Incoming,
    notes: list[str],
    has_files: bool,
    now: dt.datetime,
) -> TicketMessage:
    customer = await _customer(session, incoming)
    ticket = await locked_ticket(session, ticket.id)
    body = _body(
        strip_reply(incoming.text) or ("" if has_files else incoming.text), notes, has_files
    )
    who = Who(Actor.CUSTOMER, customer.id, customer.name)
    return await tickets.reply(session, ticket, who, body, now)


async def _new_ticket(
    session: AsyncSession,
    mail: MailSettings,
    incoming: Incoming,
    notes: list[str],
    has_files: bool,
    now: dt.datetime,
) -> tuple[Ticket, TicketMessage]:
    customer = await _customer(session, incoming)
    service_id = await _service_for_email(session, mail)
    cc: list[str] = []
    for address in incoming.copied[:MAX_CC]:
        try:
            cc += clean_emails([address], limit=1)
        except DeskError:
            continue  # not an address we could ever write to
    with answering(session, incoming.message_id):
        ticket = await tickets.create(
            session,
            requester=customer,
            service_id=service_id,
            subject=(incoming.subject or NO_SUBJECT)[:200],
            message=_body(incoming.text, notes, has_files),
            who=Who(Actor.CUSTOMER, customer.id, customer.name),
            now=now,
            origin=TicketOrigin.EMAIL,
            cc=cc,
        )
    first = await session.scalar(
        select(TicketMessage).where(TicketMessage.ticket_id == ticket.id).order_by(TicketMessage.id)
    )
    assert first is not None  # `create` stores the first message
    return ticket, first


async def _service_for_email(session: AsyncSession, mail: MailSettings) -> int:
    if mail.service_id:
        service = await session.get(Service, mail.service_id)
        if service is not None and service.active:
            return service.id
    service_id = await session.scalar(
        select(Service.id)
        .where(Service.active.is_(True))
        .order_by(Service.position, Service.id)
        .limit(1)
    )
    if service_id is None:
        raise MailRejected(451, "4.3.0", "The desk has no service to take email yet.")
    return service_id
