"""Reading tickets: search, the panel's views, and what each audience may see of one.

Field selection for every audience lives here, in one place, so the HTTP API, the
portal, emails and the websocket can never expose different fields of the same
ticket (internal notes never reach a customer by any path).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import String, cast, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing.access import Principal, visible_tickets
from ticketing.conversion import TranscriptLine
from ticketing.db import iso
from ticketing.errors import TicketNotFound
from ticketing.models import (
    Agent,
    Attachment,
    AuthorType,
    Customer,
    Priority,
    Survey,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)
from ticketing.sla import SlaClock
from ticketing.status import Actor, PanelView, allowed_close_reasons, allowed_targets

MAX_PER_PAGE = 100


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    """The fields everybody who may see the ticket sees (customers included)."""
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "service_id": ticket.service_id,
        "service": ticket.service.name,
        "category_id": ticket.category_id,
        "request_type": ticket.request_type.value if ticket.request_type else None,
        "origin": ticket.origin.value,
        "chat_id": ticket.chat_id,
        "requester": {
            "id": ticket.requester.id,
            "name": ticket.requester.name,
            "email": ticket.requester.email,
        },
        "agent": {"id": ticket.agent.id, "name": ticket.agent.name} if ticket.agent else None,
        "cc": list(ticket.cc or []),
        "close_reason": ticket.close_reason,
        "awaiting_approval": ticket.awaiting_approval,
        "merged_into_id": ticket.merged_into_id,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
    }


def agent_summary(ticket: Ticket) -> dict[str, Any]:
    """What agents see in lists, on top of the shared fields."""
    return {
        **ticket_summary(ticket),
        "tags": list(ticket.tags or []),
        "pickup_due_at": iso(ticket.pickup_due_at),
        "resolution_due_at": iso(ticket.resolution_due_at),
        "sla_warned": [s for s in ticket.sla_warned.split(",") if s],
        "sla_breached": [s for s in ticket.sla_breached.split(",") if s],
    }


def clock_view(clock: SlaClock) -> dict[str, Any]:
    def seconds(value: dt.timedelta | None) -> int | None:
        return None if value is None else int(value.total_seconds())

    return {
        "target_seconds": seconds(clock.target),
        "elapsed_seconds": seconds(clock.elapsed),
        "remaining_seconds": seconds(clock.remaining),
        "due_at": iso(clock.due_at),
        "breached": clock.breached,
        "warning": clock.warning,
        "paused": clock.paused,
        "stopped": clock.stopped,
    }


def message_view(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "author_type": message.author_type.value,
        "author_name": message.author_name,
        "body": message.body,
        "internal": message.internal,
        "created_at": iso(message.created_at),
    }


def attachment_view(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "message_id": attachment.message_id,
        "created_at": iso(attachment.created_at),
        "url": f"/api/attachments/{attachment.id}",
    }


def _page_numbers(page: int, per_page: int) -> tuple[int, int]:
    return max(1, page), max(1, min(per_page, MAX_PER_PAGE))


async def _page(session: AsyncSession, query: Any, page: int, per_page: int) -> tuple[Any, int]:
    page, per_page = _page_numbers(page, per_page)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return rows.unique(), total or 0


async def search_tickets(
    session: AsyncSession,
    principal: Principal,
    *,
    page: int = 1,
    per_page: int = 25,
    status: TicketStatus | None = None,
    service_id: int | None = None,
    priority: Priority | None = None,
    agent_id: int | None = None,
    requester_id: int | None = None,
    breached: bool | None = None,
    text: str | None = None,
    tag: str | None = None,
    unassigned: bool = False,
) -> dict[str, Any]:
    """The agents' ticket list: every filter of the seeds' desks, paginated."""
    query = select(Ticket).where(visible_tickets(principal))
    for column, value in (
        (Ticket.status, status),
        (Ticket.service_id, service_id),
        (Ticket.priority, priority),
        (Ticket.agent_id, agent_id),
        (Ticket.requester_id, requester_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if unassigned:
        query = query.where(Ticket.agent_id.is_(None))
    if breached is not None:
        query = query.where((Ticket.sla_breached != "") == breached)
    if text:
        pattern = f"%{text.lower()}%"
        in_messages = exists().where(
            TicketMessage.ticket_id == Ticket.id, func.lower(TicketMessage.body).like(pattern)
        )
        query = query.where(or_(func.lower(Ticket.subject).like(pattern), in_messages))
    if tag:
        # Tags are a JSON list of clean lower-case words: match the quoted element in its
        # text form (portable across dialects), before paginating so `total` is right.
        quoted = json.dumps(tag.strip().lower())
        escaped = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(cast(Ticket.tags, String).like(f"%{escaped}%", escape="\\"))
    rows, total = await _page(session, query, page, per_page)
    items = [agent_summary(t) for t in rows]
    page, per_page = _page_numbers(page, per_page)
    return {"items": items, "page": page, "per_page": per_page, "total": total}


async def panel_tickets(
    session: AsyncSession,
    principal: Principal,
    view: PanelView,
    *,
    page: int = 1,
    per_page: int = 25,
) -> dict[str, Any]:
    """The customer's panel (Tecnospeed): one of the five views of their own tickets."""
    from ticketing.status import PANEL_VIEWS

    query = select(Ticket).where(visible_tickets(principal), Ticket.status.in_(PANEL_VIEWS[view]))
    if view is PanelView.NOT_YET_RATED:
        # Concluded tickets awaiting a rating: not duplicates or cancelled requests.
        answered = exists().where(Survey.ticket_id == Ticket.id, Survey.answered_at.is_not(None))
        query = query.where(
            ~answered,
            or_(
                Ticket.close_reason.is_(None),
                Ticket.close_reason.not_in(("duplicate", "cancelled")),
            ),
        )
    rows, total = await _page(session, query, page, per_page)
    page, per_page = _page_numbers(page, per_page)
    return {
        "view": view.value,
        "items": [ticket_summary(t) for t in rows],
        "page": page,
        "per_page": per_page,
        "total": total,
    }


async def visible_ticket(session: AsyncSession, principal: Principal, ticket_id: int) -> Ticket:
    """The ticket, if this principal may see it; otherwise 404 (never confirm it exists)."""
    ticket = await session.scalar(
        select(Ticket).where(Ticket.id == ticket_id, visible_tickets(principal))
    )
    if ticket is None:
        raise TicketNotFound()
    return ticket


async def ticket_detail(
    session: AsyncSession,
    ticket: Ticket,
    principal: Principal,
    sla: dict[str, Any] | None = None,
) -> dict[str, Any]:
    agent_view = principal.is_agent
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    if not agent_view:
        query = query.where(TicketMessage.internal.is_(False))
    messages = list(await session.scalars(query.order_by(TicketMessage.id)))
    shown = {m.id for m in messages}
    attachments = [
        a
        for a in await session.scalars(
            select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
        )
        if a.message_id is None or a.message_id in shown
    ]
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
    actor = Actor.AGENT if agent_view else Actor.CUSTOMER
    detail: dict[str, Any] = {
        **(agent_summary(ticket) if agent_view else ticket_summary(ticket)),
        "messages": [message_view(m) for m in messages],
        "attachments": [attachment_view(a) for a in attachments],
        "survey": None
        if survey is None
        else {
            "rating": survey.rating,
            "comment": survey.comment,
            "answered_at": iso(survey.answered_at),
        },
        "allowed_statuses": sorted(s.value for s in allowed_targets(ticket.status, actor)),
        "close_reasons": sorted(r.value for r in allowed_close_reasons(ticket.status, actor)),
    }
    if agent_view:
        events = list(
            await session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.id)
            )
        )
        agents, customers = await _history_names(session, events)

        def agent_name(value: str | None) -> str | None:
            return agents.get(int(value)) if value and value.isdigit() else None

        def actor_name(e: TicketEvent) -> str | None:
            names = {AuthorType.AGENT: agents, AuthorType.CUSTOMER: customers}.get(e.actor_type)
            return names.get(e.actor_id) if names and e.actor_id is not None else None

        detail["history"] = [
            {
                "field": e.field,
                "from": e.old_value,
                "to": e.new_value,
                "actor_type": e.actor_type.value,
                "actor_id": e.actor_id,
                "actor_name": actor_name(e),
                # The assignee changes name agents: every agent may read who, not only admins.
                **(
                    {"from_name": agent_name(e.old_value), "to_name": agent_name(e.new_value)}
                    if e.field == "agent"
                    else {}
                ),
                "at": iso(e.created_at),
            }
            for e in events
        ]
        detail["sla"] = sla
    return detail


async def _history_names(
    session: AsyncSession, events: list[TicketEvent]
) -> tuple[dict[int, str], dict[int, str]]:
    """Names of the agents and customers a ticket's history mentions (two queries at most)."""
    agent_ids = {e.actor_id for e in events if e.actor_type is AuthorType.AGENT and e.actor_id}
    for e in events:
        if e.field == "agent":
            agent_ids |= {int(v) for v in (e.old_value, e.new_value) if v and v.isdigit()}
    customer_ids = {
        e.actor_id for e in events if e.actor_type is AuthorType.CUSTOMER and e.actor_id
    }
    agents: dict[int, str] = {}
    customers: dict[int, str] = {}
    if agent_ids:
        rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
        agents = {i: n for i, n in rows.all()}
    if customer_ids:
        rows = await session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids))
        )
        customers = {i: n for i, n in rows.all() if n}
    return agents, customers


async def add_customer_reply(session: AsyncSession, ticket_id: int, line: TranscriptLine) -> None:
    """A message left after a missed chat joins its ticket through the service layer."""
    from ticketing.models import Customer
    from ticketing.service import Who, locked_ticket, tickets

    ticket = await locked_ticket(session, ticket_id)
    customer = await session.get(Customer, line.author_id) if line.author_id else None
    who = Who(Actor.CUSTOMER, line.author_id, customer.name if customer else line.author_name)
    if ticket.status is TicketStatus.CLOSED:
        raise TicketNotFound("This ticket is closed; please open a new one.")
    await tickets.reply(session, ticket, who, line.body, line.created_at)
