"""Chat → ticket (DESIGN.md, "Chat lifecycle"): every finished chat becomes one ticket.

Ticketing never imports chat, so the chat side hands over plain data. Called inside
the same transaction that ends the chat: either both happen or neither, and the
unique `tickets.chat_id` makes a retried or racing conversion return the first ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing import events
from ticketing.models import (
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
class TranscriptLine:
    author_type: AuthorType
    author_id: int | None
    author_name: str
    body: str
    created_at: dt.datetime


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
    existing = await session.scalar(select(Ticket).where(Ticket.chat_id == chat.chat_id))
    if existing is not None:
        return existing
    ticket = Ticket(
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
    session.add(ticket)
    await session.flush()
    session.add_all(
        TicketMessage(
            ticket_id=ticket.id,
            author_type=line.author_type,
            author_id=line.author_id,
            author_name=line.author_name,
            body=line.body,
            created_at=line.created_at,
        )
        for line in chat.transcript
    )
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            actor_type=AuthorType.SYSTEM,
            actor_id=None,
            field="status",
            old_value=None,
            new_value=chat.status.value,
            created_at=now,
        )
    )
    if chat.ask_for_rating:
        session.add(Survey(ticket_id=ticket.id, created_at=now))
    await session.flush()
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
    return ticket
