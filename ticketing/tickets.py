"""Reading and adding to tickets: the queries behind the console's list and detail.

Field selection for every audience lives here, in one place, so the HTTP API and
the websocket can never expose different fields of the same ticket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing.conversion import TranscriptLine
from ticketing.errors import TicketNotFound
from ticketing.models import (
    AuthorType,
    Survey,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)

MAX_PER_PAGE = 100


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "service_id": ticket.service_id,
        "service": ticket.service.name,
        "origin": ticket.origin.value,
        "chat_id": ticket.chat_id,
        "requester": {
            "id": ticket.requester.id,
            "name": ticket.requester.name,
            "email": ticket.requester.email,
        },
        "agent": {"id": ticket.agent.id, "name": ticket.agent.name} if ticket.agent else None,
        "close_reason": ticket.close_reason,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
    }


def message_view(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "author_type": message.author_type.value,
        "author_name": message.author_name,
        "body": message.body,
        "internal": message.internal,
        "created_at": _iso(message.created_at),
    }


async def list_tickets(
    session: AsyncSession,
    *,
    page: int = 1,
    per_page: int = 25,
    visible: Any = None,
    **filters: Any,
) -> dict[str, Any]:
    """One page of tickets; `visible` is the caller's access condition (None: all)."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    query = select(Ticket)
    if visible is not None:
        query = query.where(visible)
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(Ticket, name) == value)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return {
        "items": [ticket_summary(t) for t in rows.unique()],
        "page": page,
        "per_page": per_page,
        "total": total or 0,
    }


async def ticket_detail(
    session: AsyncSession, ticket_id: int, *, include_internal: bool
) -> dict[str, Any]:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketNotFound()
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
    if not include_internal:
        query = query.where(TicketMessage.internal.is_(False))
    messages = await session.scalars(query.order_by(TicketMessage.id))
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    return {
        **ticket_summary(ticket),
        "messages": [message_view(m) for m in messages],
        "survey": None
        if survey is None
        else {
            "rating": survey.rating,
            "comment": survey.comment,
            "answered_at": _iso(survey.answered_at),
        },
    }


async def add_customer_reply(session: AsyncSession, ticket_id: int, line: TranscriptLine) -> None:
    """A customer's answer joins the thread; a ticket waiting on them goes back to the agent."""
    # Lock only the ticket row: PostgreSQL can't lock the nullable side of its joins.
    ticket = await session.get(Ticket, ticket_id, with_for_update={"of": Ticket})
    if ticket is None:
        raise TicketNotFound()
    session.add(
        TicketMessage(
            ticket_id=ticket_id,
            author_type=AuthorType.CUSTOMER,
            author_id=line.author_id,
            author_name=line.author_name,
            body=line.body,
            created_at=line.created_at,
        )
    )
    if ticket.status in (TicketStatus.PENDING, TicketStatus.RESOLVED):
        session.add(
            TicketEvent(
                ticket_id=ticket_id,
                actor_type=AuthorType.CUSTOMER,
                actor_id=line.author_id,
                field="status",
                old_value=ticket.status.value,
                new_value=TicketStatus.OPEN.value,
                created_at=line.created_at,
            )
        )
        ticket.status = TicketStatus.OPEN
    ticket.updated_at = line.created_at
    await session.flush()
