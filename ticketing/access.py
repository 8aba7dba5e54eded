"""Who may see which ticket: one rule set for every path (API, portal, websocket, email).

Admins see every ticket; agents the tickets of their services and those assigned
to them; customers their own, and — as designated contacts — their organization's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, exists, false, or_, select

from ticketing.models import Agent, OrganizationContact, Ticket


@dataclass(frozen=True)
class Principal:
    kind: Literal["agent", "customer"]
    id: int
    name: str
    role: str = "customer"  # agent | admin | customer
    service_ids: frozenset[int] = frozenset()
    email: str | None = None

    @classmethod
    def of_agent(cls, agent: Agent) -> Principal:
        """An agent as the visibility rules see them: role and services, read now."""
        return cls(
            "agent",
            agent.id,
            agent.name,
            role=agent.role.value,
            service_ids=frozenset(s.id for s in agent.services),
            email=agent.email,
        )

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def is_admin(self) -> bool:
        return self.kind == "agent" and self.role == "admin"


def visible_tickets(principal: Principal) -> Any:
    """A SQL condition on Ticket: the tickets this principal may see."""
    if principal.is_admin:
        return True
    if principal.is_agent:
        return or_(Ticket.service_id.in_(principal.service_ids), Ticket.agent_id == principal.id)
    if principal.kind == "customer":
        designated = exists().where(
            OrganizationContact.customer_id == principal.id,
            OrganizationContact.organization_id == Ticket.organization_id,
        )
        return or_(
            Ticket.requester_id == principal.id,
            and_(Ticket.organization_id.is_not(None), designated),
        )
    return false()


def visible_ticket_ids(principal: Principal) -> Any:
    return select(Ticket.id).where(visible_tickets(principal))
