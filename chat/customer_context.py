"""What an agent sees beside a chat: who the customer is and their history with the desk.

Only agents who may see the chat get its context (`chat_for_agent`: admins, the
chat's agent or the one it is offered to, and agents of its service), and within
it only the earlier chats and tickets they could open anyway — the ticket rules of
ticketing/access.py — so the panel never shows one service's work to another.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.errors import ChatNotFound
from chat.models import Chat
from chat.states import OPEN_STATES, ChatState
from ticketing.access import Principal, visible_tickets
from ticketing.db import iso
from ticketing.models import Agent, AgentRole, Customer, Organization, Service, Ticket

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
# Ticket statuses a chat may end with that mean "done" (the rest need a follow-up).
_DONE = ("resolved", "closed")


def may_see(agent: Agent, chat: Chat) -> bool:
    """The console's rule: admins see all; agents their chats, offers and services' queues."""
    if agent.role is AgentRole.ADMIN:
        return True
    if agent.id in (chat.agent_id, chat.offered_agent_id):
        return True
    return chat.service_id in {s.id for s in agent.services}


def _visible_chats(agent: Agent) -> Any:
    """SQL on Chat: the same rule as `may_see`, for lists."""
    if agent.role is AgentRole.ADMIN:
        return True
    return or_(
        Chat.service_id.in_([s.id for s in agent.services]),
        Chat.agent_id == agent.id,
    )


async def chat_for_agent(session: AsyncSession, agent: Agent, chat_id: int) -> Chat:
    """The chat, or ChatNotFound — also when it exists but isn't this agent's to see."""
    chat = await session.get(Chat, chat_id)
    if chat is None or not may_see(agent, chat):
        raise ChatNotFound()
    return chat


def outcome(chat: Chat) -> str:
    """How a chat went, in one word the console translates."""
    if chat.state in OPEN_STATES:
        return "in_progress"
    if chat.state is ChatState.MISSED:
        return "missed"
    if chat.end_status in _DONE:
        return "resolved"
    if chat.end_status == "new":  # ended before any agent answered
        return "unanswered"
    return "follow_up"


async def customer_context(
    session: AsyncSession, agent: Agent, chat_id: int, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    chat = await chat_for_agent(session, agent, chat_id)
    customer = await session.get(Customer, chat.customer_id)
    organization = (
        await session.get(Organization, customer.organization_id)
        if customer is not None and customer.organization_id is not None
        else None
    )
    chats, more_chats = await _earlier_chats(session, agent, chat, limit)
    tickets, more_tickets = await _tickets(session, agent, chat.customer_id, limit)
    return {
        "chat_id": chat.id,
        "customer": {
            "id": chat.customer_id,
            "name": (customer.name if customer else "") or chat.customer_name,
            "email": (customer.email if customer else None) or chat.customer_email,
            "organization": (
                {"id": organization.id, "name": organization.name} if organization else None
            ),
        },
        "chats": chats,
        "more_chats": more_chats,
        "tickets": tickets,
        "more_tickets": more_tickets,
    }


async def _earlier_chats(
    session: AsyncSession, agent: Agent, chat: Chat, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    rows = (
        await session.execute(
            select(Chat, Service.name, Agent.name)
            .join(Service, Service.id == Chat.service_id)
            .outerjoin(Agent, Agent.id == Chat.agent_id)
            .where(
                Chat.customer_id == chat.customer_id,
                Chat.id != chat.id,
                _visible_chats(agent),
            )
            .order_by(Chat.created_at.desc(), Chat.id.desc())
            .limit(limit + 1)
        )
    ).all()
    # A chat's ticket may since have moved to a service this agent can't see: no link then.
    ticket_ids = [c.ticket_id for c, _, _ in rows if c.ticket_id is not None]
    openable = set(
        await session.scalars(
            select(Ticket.id).where(
                Ticket.id.in_(ticket_ids), visible_tickets(Principal.of_agent(agent))
            )
        )
        if ticket_ids
        else ()
    )
    items = [
        {
            "id": earlier.id,
            "created_at": iso(earlier.created_at),
            "ended_at": iso(earlier.ended_at),
            "service": {"id": earlier.service_id, "name": service_name},
            "agent": {"id": earlier.agent_id, "name": agent_name} if earlier.agent_id else None,
            "subject": earlier.subject,
            "outcome": outcome(earlier),
            "ticket_id": earlier.ticket_id if earlier.ticket_id in openable else None,
        }
        for earlier, service_name, agent_name in rows[:limit]
    ]
    return items, len(rows) > limit


async def _tickets(
    session: AsyncSession, agent: Agent, customer_id: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    rows = list(
        await session.scalars(
            select(Ticket)
            .where(Ticket.requester_id == customer_id, visible_tickets(Principal.of_agent(agent)))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .limit(limit + 1)
        )
    )
    items = [
        {
            "id": ticket.id,
            "subject": ticket.subject,
            "status": ticket.status.value,
            "service": {"id": ticket.service_id, "name": ticket.service.name},
            "updated_at": iso(ticket.updated_at),
        }
        for ticket in rows[:limit]
    ]
    return items, len(rows) > limit
