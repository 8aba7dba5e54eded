"""The ticket service layer: every change to a ticket, one transaction each, with history.

The status machine (`ticketing/status.py`) decides what may happen; this module
makes it happen and records who did what, when, from → to (TicketEvent). It keeps
the SLA due times on the row current so the worker and searches can use them.
Used by the REST API, the worker and chat conversion alike (DESIGN.md principle 5).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing import events
from ticketing.business_hours import Schedule
from ticketing.errors import DeskError, NotFound, TicketNotFound
from ticketing.models import (
    Agent,
    AuthorType,
    Category,
    Customer,
    Organization,
    OrganizationContact,
    Priority,
    RequestType,
    Service,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketOrigin,
    TicketStatus,
)
from ticketing.sla import DEFAULT_TARGETS, SlaState, SlaTargets, sla_state
from ticketing.status import Actor, CloseReason, IllegalTransition, check_transition

MAX_BODY_CHARS = 50_000
MAX_CC = 20
MAX_TAGS = 20


class InvalidTicket(DeskError):
    code = "invalid_ticket"
    http_status = 422


class NotApprover(DeskError):
    code = "not_an_approver"
    message = "Only a designated contact of the organization may approve this ticket."
    http_status = 403


@dataclass(frozen=True)
class Who:
    """The actor of a change, as recorded in the history."""

    actor: Actor
    id: int | None = None
    name: str = ""

    @property
    def author_type(self) -> AuthorType:
        return {Actor.AGENT: AuthorType.AGENT, Actor.CUSTOMER: AuthorType.CUSTOMER}.get(
            self.actor, AuthorType.SYSTEM
        )


SYSTEM = Who(Actor.SYSTEM, None, "Chatdesk")


def _event(
    ticket: Ticket, who: Who, field: str, old: object, new: object, now: dt.datetime
) -> TicketEvent:
    def text(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)[:200]
        return str(getattr(value, "value", value))[:200]

    return TicketEvent(
        ticket_id=ticket.id,
        actor_type=who.author_type,
        actor_id=who.id,
        field=field,
        old_value=text(old),
        new_value=text(new),
        created_at=now,
    )


def clean_emails(values: object, *, limit: int = MAX_CC) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > limit:
        raise InvalidTicket(f"CC must be a list of at most {limit} email addresses.")
    emails: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidTicket("Every CC entry must be an email address.")
        email = value.strip().lower()
        local, at, domain = email.partition("@")
        if (
            not at
            or not local
            or "." not in domain
            or any(c.isspace() for c in email)
            or (len(email) > 254)
        ):
            raise InvalidTicket(f"'{value[:80]}' is not an email address.")
        if email not in emails:
            emails.append(email)
    return emails


def clean_tags(values: object) -> list[str]:
    if (
        not isinstance(values, list)
        or len(values) > MAX_TAGS
        or not all(isinstance(v, str) and 0 < len(v.strip()) <= 40 for v in values)
    ):
        raise InvalidTicket(f"Tags must be a list of at most {MAX_TAGS} short words.")
    return sorted({v.strip().lower() for v in values})


def _body(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidTicket("The message may not be empty.")
    if len(text) > MAX_BODY_CHARS:
        raise InvalidTicket(f"A message may be at most {MAX_BODY_CHARS} characters.")
    return text


async def locked_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(
        Ticket, ticket_id, with_for_update={"of": Ticket}, populate_existing=True
    )
    if ticket is None:
        raise TicketNotFound()
    return ticket


async def organization_for(session: AsyncSession, email: str | None) -> Organization | None:
    """The organization a customer belongs to, by their email domain."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].lower()
    return await session.scalar(select(Organization).where(Organization.domain == domain))


async def designated_contacts(session: AsyncSession, organization_id: int) -> list[Customer]:
    rows = await session.scalars(
        select(Customer)
        .join(OrganizationContact, OrganizationContact.customer_id == Customer.id)
        .where(OrganizationContact.organization_id == organization_id)
    )
    return list(rows)


async def service_rules(session: AsyncSession, service_id: int) -> tuple[Schedule, SlaTargets]:
    service = await session.get(Service, service_id)
    if service is None:
        raise NotFound("There is no such service.")
    targets = SlaTargets.from_dict(service.sla_targets) if service.sla_targets else DEFAULT_TARGETS
    return Schedule.from_dict(service.schedule), targets


async def status_history(
    session: AsyncSession, ticket_id: int
) -> list[tuple[dt.datetime, TicketStatus]]:
    rows = await session.execute(
        select(TicketEvent.created_at, TicketEvent.new_value)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.field == "status")
        .order_by(TicketEvent.id)
    )
    return [(at, TicketStatus(value)) for at, value in rows.all() if value]


async def compute_sla(session: AsyncSession, ticket: Ticket, now: dt.datetime) -> SlaState:
    schedule, targets = await service_rules(session, ticket.service_id)
    return sla_state(
        schedule=schedule,
        targets=targets,
        priority=ticket.priority,
        created_at=ticket.created_at,
        picked_up_at=ticket.picked_up_at,
        history=await status_history(session, ticket.id),
        now=now,
    )


async def refresh_sla(session: AsyncSession, ticket: Ticket, now: dt.datetime) -> SlaState:
    """Keep the row's due times current (searches and the worker read them)."""
    state = await compute_sla(session, ticket, now)
    ticket.pickup_due_at = None if state.pickup.stopped else state.pickup.due_at
    ticket.resolution_due_at = state.resolution.due_at if state.resolution.running else None
    return state


class TicketService:
    """Ticket actions. Each takes an open session (the caller's transaction) and a clock time."""

    async def create(
        self,
        session: AsyncSession,
        *,
        requester: Customer,
        service_id: int,
        subject: str,
        message: str,
        who: Who,
        now: dt.datetime,
        origin: TicketOrigin = TicketOrigin.PORTAL,
        category_id: int | None = None,
        priority: Priority = Priority.P3,
        request_type: RequestType | None = None,
        cc: Sequence[str] = (),
        agent_id: int | None = None,
    ) -> Ticket:
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 200:
            raise InvalidTicket("A subject of 1 to 200 characters is required.")
        if await session.get(Service, service_id) is None:
            raise InvalidTicket("There is no such service.")
        if category_id is not None:
            category = await session.get(Category, category_id)
            if category is None or category.service_id != service_id or not category.active:
                raise InvalidTicket("That category does not belong to the service.")
        body = _body(message)
        cc_list = clean_emails(list(cc))
        organization = await organization_for(session, requester.email)
        awaiting_approval = False
        if organization is not None:
            requester.organization_id = organization.id
            contacts = await designated_contacts(session, organization.id)
            is_contact = any(c.id == requester.id for c in contacts)
            # Movidesk: the organization's designated contacts are copied on its tickets.
            for contact in contacts:
                if contact.email and contact.id != requester.id and contact.email not in cc_list:
                    cc_list.append(contact.email)
            awaiting_approval = organization.requires_approval and not is_contact
        ticket = Ticket(
            subject=subject.strip(),
            service_id=service_id,
            requester_id=requester.id,
            agent_id=None,
            status=TicketStatus.NEW,
            priority=priority,
            origin=origin,
            category_id=category_id,
            request_type=request_type,
            organization_id=organization.id if organization else None,
            cc=cc_list,
            tags=[],
            awaiting_approval=awaiting_approval,
            created_at=now,
            updated_at=now,
            status_changed_at=now,
            reminders_sent=0,
            sla_warned="",
            sla_breached="",
        )
        session.add(ticket)
        await session.flush()
        session.add(_event(ticket, who, "status", None, TicketStatus.NEW, now))
        session.add(
            TicketMessage(
                ticket_id=ticket.id,
                author_type=who.author_type,
                author_id=who.id,
                author_name=who.name,
                body=body,
                internal=False,
                created_at=now,
            )
        )
        await events.emit(
            session,
            events.DomainEvent(
                events.TICKET_CREATED,
                now,
                ticket.id,
                ticket.chat_id,
                {"origin": ticket.origin.value, "actor": who.actor.value},
            ),
        )
        if agent_id is not None:
            await self.assign(session, ticket, agent_id, who, now)
        await refresh_sla(session, ticket, now)
        await session.flush()
        return ticket

    async def change_status(
        self,
        session: AsyncSession,
        ticket: Ticket,
        target: TicketStatus,
        who: Who,
        now: dt.datetime,
        reason: CloseReason | None = None,
    ) -> None:
        if ticket.status is target:
            return
        if (
            ticket.awaiting_approval
            and who.actor is Actor.AGENT
            and target is not (TicketStatus.CLOSED)
        ):
            raise IllegalTransition(
                "This ticket waits for a designated contact's approval before it is worked on."
            )
        check_transition(ticket.status, target, who.actor, reason)
        previous = ticket.status
        session.add(_event(ticket, who, "status", ticket.status, target, now))
        if target is TicketStatus.CLOSED:
            session.add(_event(ticket, who, "close_reason", ticket.close_reason, reason, now))
            ticket.close_reason = reason.value if reason else None
            ticket.closed_at = now
        if target is TicketStatus.RESOLVED:
            ticket.resolved_at = now
        if target is TicketStatus.OPEN and ticket.status is TicketStatus.NEW:
            ticket.picked_up_at = ticket.picked_up_at or now
        ticket.status = target
        ticket.status_changed_at = now
        ticket.reminders_sent = 0
        ticket.last_reminder_at = None
        ticket.updated_at = now
        await session.flush()
        await refresh_sla(session, ticket, now)
        await events.emit(
            session,
            events.DomainEvent(
                events.TICKET_STATUS_CHANGED,
                now,
                ticket.id,
                ticket.chat_id,
                {
                    "from": previous.value,
                    "to": target.value,
                    "reason": reason.value if reason else None,
                    "actor": who.actor.value,
                },
            ),
        )

    async def assign(
        self,
        session: AsyncSession,
        ticket: Ticket,
        agent_id: int | None,
        who: Who,
        now: dt.datetime,
    ) -> None:
        """One assigned agent; the first assignment is the pickup (the SLA pickup clock stops)."""
        if agent_id is not None:
            agent = await session.get(Agent, agent_id)
            if agent is None or not agent.active:
                raise InvalidTicket("There is no such agent.")
        if ticket.agent_id == agent_id:
            return
        session.add(_event(ticket, who, "agent", ticket.agent_id, agent_id, now))
        ticket.agent_id = agent_id
        ticket.updated_at = now
        if agent_id is not None and ticket.picked_up_at is None:
            ticket.picked_up_at = now
            if ticket.status is TicketStatus.NEW and not ticket.awaiting_approval:
                await self.change_status(session, ticket, TicketStatus.OPEN, who, now)
        await session.flush()
        await refresh_sla(session, ticket, now)
        await events.emit(
            session,
            events.DomainEvent(
                events.TICKET_UPDATED,
                now,
                ticket.id,
                ticket.chat_id,
                {"change": "agent", "agent_id": agent_id, "actor": who.actor.value},
            ),
        )

    async def reply(
        self,
        session: AsyncSession,
        ticket: Ticket,
        who: Who,
        body: str,
        now: dt.datetime,
        *,
        internal: bool = False,
        set_status: TicketStatus | None = None,
    ) -> TicketMessage:
        """A public reply or an internal note; replies move the ticket the way the seeds say."""
        if ticket.status is TicketStatus.CLOSED:
            raise IllegalTransition("This ticket is closed; please open a new one.")
        if internal and who.actor is not Actor.AGENT:
            raise InvalidTicket("Only agents write internal notes.")
        message = TicketMessage(
            ticket_id=ticket.id,
            author_type=who.author_type,
            author_id=who.id,
            author_name=who.name,
            body=_body(body),
            internal=internal,
            created_at=now,
        )
        session.add(message)
        ticket.updated_at = now
        if who.actor is Actor.CUSTOMER and ticket.status in (
            TicketStatus.PENDING,
            TicketStatus.RESOLVED,
        ):
            await self.change_status(session, ticket, TicketStatus.OPEN, who, now)
        elif who.actor is Actor.AGENT and not internal:
            if ticket.agent_id is None and who.id is not None:
                await self.assign(session, ticket, who.id, who, now)
            if set_status is not None:
                if set_status not in (
                    TicketStatus.PENDING,
                    TicketStatus.RESOLVED,
                    TicketStatus.OPEN,
                ):
                    raise InvalidTicket("A reply can leave the ticket open, pending or resolved.")
                await self.change_status(session, ticket, set_status, who, now)
        await session.flush()
        await events.emit(
            session,
            events.DomainEvent(
                events.TICKET_UPDATED,
                now,
                ticket.id,
                ticket.chat_id,
                {
                    "change": "note" if internal else "reply",
                    "message_id": message.id,
                    "internal": internal,
                    "actor": who.actor.value,
                },
            ),
        )
        return message

    async def update_fields(
        self,
        session: AsyncSession,
        ticket: Ticket,
        who: Who,
        now: dt.datetime,
        changes: dict[str, Any],
    ) -> None:
        """Priority, category, request type, service, subject, tags, CC — each change in history."""
        allowed = {"priority", "category_id", "request_type", "service_id", "subject", "tags", "cc"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidTicket(
                f"These fields can't be changed here: {', '.join(sorted(unknown))}."
            )
        values: dict[str, Any] = {}
        try:
            if "priority" in changes:
                values["priority"] = Priority(changes["priority"])
            if "request_type" in changes:
                values["request_type"] = (
                    None
                    if changes["request_type"] is None
                    else RequestType(changes["request_type"])
                )
        except ValueError as exc:
            raise InvalidTicket(str(exc)) from None
        if "service_id" in changes:
            if await session.get(Service, changes["service_id"]) is None:
                raise InvalidTicket("There is no such service.")
            values["service_id"] = changes["service_id"]
        if "category_id" in changes and changes["category_id"] is not None:
            category = await session.get(Category, changes["category_id"])
            service_id = values.get("service_id", ticket.service_id)
            if category is None or category.service_id != service_id:
                raise InvalidTicket("That category does not belong to the ticket's service.")
            values["category_id"] = category.id
        elif "category_id" in changes:
            values["category_id"] = None
        if "subject" in changes:
            subject = changes["subject"]
            if not isinstance(subject, str) or not subject.strip() or len(subject) > 200:
                raise InvalidTicket("A subject of 1 to 200 characters is required.")
            values["subject"] = subject.strip()
        if "tags" in changes:
            values["tags"] = clean_tags(changes["tags"])
        if "cc" in changes:
            values["cc"] = clean_emails(changes["cc"])
        for field, value in values.items():
            old = getattr(ticket, field)
            if old != value:
                session.add(_event(ticket, who, field, old, value, now))
                setattr(ticket, field, value)
        ticket.updated_at = now
        await session.flush()
        await refresh_sla(session, ticket, now)
        if values:
            await events.emit(
                session,
                events.DomainEvent(
                    events.TICKET_UPDATED,
                    now,
                    ticket.id,
                    ticket.chat_id,
                    {"change": "fields", "fields": sorted(values), "actor": who.actor.value},
                ),
            )

    async def approve(
        self, session: AsyncSession, ticket: Ticket, contact: Customer, now: dt.datetime
    ) -> None:
        """AllSolutions: a designated contact releases a colleague's ticket for work."""
        if not ticket.awaiting_approval or ticket.organization_id is None:
            raise InvalidTicket("This ticket does not wait for an approval.")
        contacts = await designated_contacts(session, ticket.organization_id)
        if all(c.id != contact.id for c in contacts):
            raise NotApprover()
        who = Who(Actor.CUSTOMER, contact.id, contact.name)
        session.add(_event(ticket, who, "approval", "awaiting", "approved", now))
        ticket.awaiting_approval = False
        ticket.updated_at = now
        if ticket.agent_id is not None and ticket.status is TicketStatus.NEW:
            await self.change_status(session, ticket, TicketStatus.OPEN, SYSTEM, now)
        await session.flush()

    async def merge(
        self, session: AsyncSession, duplicate: Ticket, into: Ticket, who: Who, now: dt.datetime
    ) -> None:
        """Close `duplicate` as a duplicate of `into`; its thread is copied into `into`."""
        if duplicate.id == into.id:
            raise InvalidTicket("A ticket can't be merged into itself.")
        if into.status is TicketStatus.CLOSED:
            raise InvalidTicket("Merge into a ticket that is still open.")
        messages = await session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == duplicate.id)
            .order_by(TicketMessage.id)
        )
        for m in messages:
            session.add(
                TicketMessage(
                    ticket_id=into.id,
                    author_type=m.author_type,
                    author_id=m.author_id,
                    author_name=m.author_name,
                    body=m.body,
                    internal=m.internal,
                    created_at=m.created_at,
                )
            )
        session.add(
            TicketMessage(
                ticket_id=into.id,
                author_type=AuthorType.SYSTEM,
                author_name="Chatdesk",
                body=f"Ticket #{duplicate.id} was merged into this ticket.",
                internal=True,
                created_at=now,
            )
        )
        into.cc = sorted(set(into.cc) | set(duplicate.cc))
        await self.change_status(
            session, duplicate, TicketStatus.CLOSED, who, now, CloseReason.DUPLICATE
        )
        session.add(_event(duplicate, who, "merged_into", None, into.id, now))
        duplicate.merged_into_id = into.id
        into.updated_at = now
        await session.flush()

    async def record_reminder(
        self, session: AsyncSession, ticket_id: int, seen_count: int, now: dt.datetime
    ) -> bool:
        """Count a reminder once even with two workers: only the first UPDATE matches."""
        result = await session.execute(
            update(Ticket)
            .where(
                Ticket.id == ticket_id,
                Ticket.status == TicketStatus.PENDING,
                Ticket.reminders_sent == seen_count,
            )
            .values(reminders_sent=seen_count + 1, last_reminder_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


tickets = TicketService()
