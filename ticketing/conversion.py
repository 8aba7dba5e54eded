"""Chat → ticket (DESIGN.md, "Chat lifecycle"): every finished chat becomes one ticket.

Ticketing never imports chat, so the chat side hands over plain data. Called inside
the same transaction that ends the chat: either both happen or neither, and the
unique `tickets.chat_id` makes a retried or racing conversion return the first ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing import events
from ticketing.models import (
    Attachment,
    AuthorType,
    Survey,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketOrigin,
    TicketStatus,
)

SUBJECT_FROM_MESSAGE_CHARS = 80


@dataclass(frozen=True)
class TranscriptFile:
    """A file sent in the chat; the ticket keeps it as an attachment of the same line."""

    filename: str
    content_type: str
    size: int
    storage_key: str  # the bytes already on disk (ticketing/attachments.py): not copied
    uploaded_by: AuthorType
    uploader_id: int | None
    created_at: dt.datetime


@dataclass(frozen=True)
class TranscriptLine:
    author_type: AuthorType
    author_id: int | None
    author_name: str
    body: str
    created_at: dt.datetime
    file: TranscriptFile | None = None


@dataclass(frozen=True)
class FinishedChat:
    chat_id: int
    service_id: int
    customer_id: int
    agent_id: int | None
    subject: str
    status: TicketStatus
    ask_for_rating: bool
    transcript: Sequence[TranscriptLine]


def subject_for(subject: str, transcript: Sequence[TranscriptLine]) -> str:
    """The pre-chat subject, else the start of the customer's first message."""
    if subject.strip():
        return subject.strip()[:200]
    for line in transcript:
        if line.author_type is AuthorType.CUSTOMER and line.body.strip():
            text = " ".join(line.body.split())
            if len(text) > SUBJECT_FROM_MESSAGE_CHARS:
                text = text[: SUBJECT_FROM_MESSAGE_CHARS - 1].rstrip() + "…"
            return text
    return "Chat"


async def convert_chat(session: AsyncSession, chat: FinishedChat, now: dt.datetime) -> Ticket:
    """The chat's one ticket: the earlier one if it has one (a retried or racing
    conversion), else a new one; the unique `tickets.chat_id` refuses a second regardless."""
    existing = await session.scalar(select(Ticket).where(Ticket.chat_id == chat.chat_id))
    if existing is not None:
        return existing
    [ticket] = await convert_chats(session, [chat], now)
    return ticket


async def convert_chats(
    session: AsyncSession, chats: Sequence[FinishedChat], now: dt.datetime
) -> list[Ticket]:
    """New tickets for chats the caller holds locked while still open (so they have none),
    in input order: the same statements for one chat or for a hundred ended at once
    (chat/endings.py), which is what makes a burst of endings cheap."""
    tickets = [
        Ticket(
            subject=subject_for(chat.subject, chat.transcript),
            service_id=chat.service_id,
            requester_id=chat.customer_id,
            agent_id=chat.agent_id,
            status=chat.status,
            origin=TicketOrigin.CHAT,
            chat_id=chat.chat_id,
            created_at=now,
            updated_at=now,
            resolved_at=now if chat.status is TicketStatus.RESOLVED else None,
            # An agent who handled the chat has picked the request up (SLA pickup met).
            picked_up_at=now if chat.agent_id is not None else None,
            status_changed_at=now,
            cc=[],
            tags=[],
        )
        for chat in chats
    ]
    session.add_all(tickets)
    await session.flush()  # one INSERT … RETURNING for all of them
    pairs = list(zip(chats, tickets, strict=True))
    # The thread: one executemany on the table, not ORM objects nor the ORM's bulk path;
    # the transcripts are most of what a conversion writes (bench/conversions.py).
    lines = [
        _thread_row(ticket, line)
        for chat, ticket in pairs
        if not any(line.file for line in chat.transcript)
        for line in chat.transcript
    ]
    if lines:
        await session.execute(insert(TicketMessage.__table__), lines)
    for chat, ticket in pairs:
        if any(line.file for line in chat.transcript):
            await _thread_with_files(session, ticket, chat.transcript)
    # Rows nothing in this transaction reads back: plain INSERTs, no unit of work.
    await session.execute(
        insert(TicketEvent.__table__),
        [
            {
                "ticket_id": ticket.id,
                "actor_type": AuthorType.SYSTEM,
                "actor_id": None,
                "field": "status",
                "old_value": None,
                "new_value": chat.status.value,
                "created_at": now,
            }
            for chat, ticket in pairs
        ],
    )
    surveys = [{"ticket_id": t.id, "created_at": now} for c, t in pairs if c.ask_for_rating]
    if surveys:
        await session.execute(insert(Survey.__table__), surveys)
    for chat, ticket in pairs:
        await events.emit(
            session,
            events.DomainEvent(
                events.TICKET_CREATED,
                now,
                ticket.id,
                chat.chat_id,
                {"origin": TicketOrigin.CHAT.value, "actor": "system"},
            ),
        )
    return tickets


def _thread_row(ticket: Ticket, line: TranscriptLine) -> dict[str, Any]:
    """A transcript line as the ticket's thread keeps it (public, never a note)."""
    return {
        "ticket_id": ticket.id,
        "author_type": line.author_type,
        "author_id": line.author_id,
        "author_name": line.author_name,
        "body": line.body,
        "internal": False,
        "created_at": line.created_at,
    }


async def _thread_with_files(
    session: AsyncSession, ticket: Ticket, transcript: Sequence[TranscriptLine]
) -> None:
    """A transcript with files: the files point at their lines' ids, so ORM rows."""
    messages = [TicketMessage(**_thread_row(ticket, line)) for line in transcript]
    session.add_all(messages)
    await session.flush()
    session.add_all(
        Attachment(
            ticket_id=ticket.id,
            message_id=message.id,
            filename=line.file.filename,
            content_type=line.file.content_type,
            size=line.file.size,
            storage_key=line.file.storage_key,
            uploaded_by=line.file.uploaded_by,
            uploader_id=line.file.uploader_id,
            created_at=line.file.created_at,
        )
        for line, message in zip(transcript, messages, strict=True)
        if line.file is not None
    )
    await session.flush()
