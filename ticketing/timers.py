"""Ticket timers run by the worker: reminders, auto-closes, SLA warnings and breaches.

Each candidate is re-read under its row lock and its rule re-checked before acting,
so two workers running at once never remind twice or close twice (the conditional
reminder count and the status machine refuse the second).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketing import events
from ticketing.business_hours import Schedule
from ticketing.db import constant, transaction
from ticketing.models import AuthorType, Service, Ticket, TicketMessage, TicketStatus
from ticketing.policy import InactivityAction, InactivityPolicy, next_action
from ticketing.service import SYSTEM, _event, compute_sla, locked_ticket, tickets
from ticketing.status import CloseReason

log = logging.getLogger("ticketing.timers")

# Warn this long before an SLA target is missed (business time).
SLA_WARNING_BEFORE = dt.timedelta(hours=1)
# Tickets due within this much wall time are checked for warnings and breaches.
CANDIDATE_LOOKAHEAD = dt.timedelta(days=7)

REMINDER_TEXT = (
    "We are still waiting for your answer to continue with this ticket. "
    "Please reply to this message; without an answer the ticket will be closed as inactive."
)
CLOSED_INACTIVE_TEXT = (
    "This ticket was closed as inactive: we did not hear back from you. "
    "If you still need help, please open a new ticket."
)
CLOSED_UNCONFIRMED_TEXT = (
    "This ticket was closed as solved: it was resolved and not reopened in time."
)


@dataclass
class TimerReport:
    reminded: list[int] = field(default_factory=list)
    closed_inactive: list[int] = field(default_factory=list)
    closed_unconfirmed: list[int] = field(default_factory=list)
    sla_warnings: list[tuple[int, str]] = field(default_factory=list)
    sla_breaches: list[tuple[int, str]] = field(default_factory=list)


async def run_ticket_timers(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime
) -> TimerReport:
    report = TimerReport()
    async with sessions() as session:
        earliest = await _earliest_steps(session)
        quiet = list(await session.scalars(_maybe_due(earliest, now)))
        # Due times are business time: an hour before Monday 10:00 can be Friday afternoon.
        soon = now + CANDIDATE_LOOKAHEAD
        clocked = list(
            await session.scalars(
                select(Ticket.id).where(
                    or_(Ticket.pickup_due_at <= soon, Ticket.resolution_due_at <= soon)
                )
            )
        )
    for ticket_id in quiet:
        async with transaction(sessions) as session:
            await _inactivity(session, ticket_id, now, report)
    for ticket_id in clocked:
        async with transaction(sessions) as session:
            await _sla(session, ticket_id, now, report)
    return report


@dataclass(frozen=True)
class _EarliestSteps:
    """The shortest wait before each inactivity step over every service's policy."""

    resolved_close: dt.timedelta
    first_step: dt.timedelta
    between_reminders: dt.timedelta


async def _earliest_steps(session: AsyncSession) -> _EarliestSteps:
    policies = [
        InactivityPolicy.from_dict(policy)
        for policy in await session.scalars(select(Service.inactivity_policy))
    ] or [InactivityPolicy.from_dict(None)]
    return _EarliestSteps(
        dt.timedelta(days=min(p.resolved_close_days for p in policies)),
        dt.timedelta(days=min(p.wait_days for p in policies)),
        # n business days are n open days on, at the same local time: at least n calendar
        # days less an hour (a change of clocks); a day of slack keeps it a lower bound.
        dt.timedelta(days=max(0, min(p.reminder_interval_business_days for p in policies) - 1)),
    )


def _maybe_due(earliest: _EarliestSteps, now: dt.datetime) -> Select[tuple[int]]:
    """Quiet tickets whose next step (`next_action`) can be due by now: every other one
    waits at least the shortest wait any policy sets. Without this, every timer run
    locked and re-read every ticket awaiting a customer, and resolved tickets wait days."""
    reminded = and_(Ticket.reminders_sent > 0, Ticket.last_reminder_at.is_not(None))
    return select(Ticket.id).where(
        or_(
            and_(
                Ticket.status == constant(TicketStatus.RESOLVED),
                Ticket.status_changed_at <= now - earliest.resolved_close,
            ),
            and_(
                Ticket.status == constant(TicketStatus.PENDING),
                ~reminded,
                Ticket.status_changed_at <= now - earliest.first_step,
            ),
            and_(
                Ticket.status == constant(TicketStatus.PENDING),
                reminded,
                Ticket.last_reminder_at <= now - earliest.between_reminders,
            ),
        )
    )


async def _rules(session: AsyncSession, service_id: int) -> tuple[Schedule, InactivityPolicy]:
    service = await session.get(Service, service_id)
    assert service is not None  # a ticket's service always exists (foreign key)
    return Schedule.from_dict(service.schedule), InactivityPolicy.from_dict(
        service.inactivity_policy
    )


async def _inactivity(
    session: AsyncSession, ticket_id: int, now: dt.datetime, report: TimerReport
) -> None:
    ticket = await locked_ticket(session, ticket_id)
    schedule, policy = await _rules(session, ticket.service_id)
    due = next_action(
        policy,
        schedule,
        ticket.status,
        ticket.status_changed_at,
        ticket.reminders_sent,
        ticket.last_reminder_at,
    )
    if due is None or due.at > now:
        return
    if due.action is InactivityAction.REMIND:
        seen = ticket.reminders_sent  # read first: the UPDATE refreshes the object in place
        if await tickets.record_reminder(session, ticket.id, seen, now):
            _system_reply(session, ticket, REMINDER_TEXT, now)
            session.add(_event(ticket, SYSTEM, "reminder", seen, seen + 1, now))
            await events.emit(
                session,
                events.DomainEvent(
                    events.TICKET_REMINDER,
                    now,
                    ticket.id,
                    ticket.chat_id,
                    {"reminder": seen + 1},
                ),
            )
            report.reminded.append(ticket.id)
    elif due.action is InactivityAction.CLOSE_INACTIVE:
        await tickets.change_status(
            session, ticket, TicketStatus.CLOSED, SYSTEM, now, CloseReason.INACTIVE
        )
        _system_reply(session, ticket, CLOSED_INACTIVE_TEXT, now)
        report.closed_inactive.append(ticket.id)
    else:
        await tickets.change_status(
            session, ticket, TicketStatus.CLOSED, SYSTEM, now, CloseReason.SOLVED
        )
        _system_reply(session, ticket, CLOSED_UNCONFIRMED_TEXT, now)
        report.closed_unconfirmed.append(ticket.id)


def _system_reply(session: AsyncSession, ticket: Ticket, body: str, now: dt.datetime) -> None:
    session.add(
        TicketMessage(
            ticket_id=ticket.id,
            author_type=AuthorType.SYSTEM,
            author_name="Chatdesk",
            body=body,
            internal=False,
            created_at=now,
        )
    )


async def _sla(
    session: AsyncSession, ticket_id: int, now: dt.datetime, report: TimerReport
) -> None:
    ticket = await locked_ticket(session, ticket_id)
    state = await compute_sla(session, ticket, now)
    warned = set(filter(None, ticket.sla_warned.split(",")))
    breached = set(filter(None, ticket.sla_breached.split(",")))
    for name, clock in (("pickup", state.pickup), ("resolution", state.resolution)):
        if clock.breached and name not in breached:
            breached.add(name)
            session.add(_event(ticket, SYSTEM, f"sla_{name}", "due", "breached", now))
            report.sla_breaches.append((ticket.id, name))
        elif (
            clock.remaining is not None
            and clock.running
            and (clock.remaining <= SLA_WARNING_BEFORE)
            and name not in warned
            and name not in breached
        ):
            warned.add(name)
            session.add(_event(ticket, SYSTEM, f"sla_{name}", "due", "warning", now))
            report.sla_warnings.append((ticket.id, name))
    ticket.sla_warned = ",".join(sorted(warned))
    ticket.sla_breached = ",".join(sorted(breached))
