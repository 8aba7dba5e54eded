"""The ticket lifecycle on a real database: statuses, history, SLA, timers, organizations."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import ticketing.timers
from chat.seed import create_agent
from ticketing.db import transaction
from ticketing.models import (
    Customer,
    Organization,
    OrganizationContact,
    Service,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)
from ticketing.policy import MODERA
from ticketing.service import Who, locked_ticket, tickets
from ticketing.status import Actor, CloseReason, IllegalTransition
from ticketing.timers import run_ticket_timers

Sessions = async_sessionmaker[AsyncSession]
BILLING = 3  # Mon–Fri 09:00–18:00 UTC
MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


async def _people(sessions: Sessions) -> tuple[Customer, Who]:
    async with transaction(sessions) as session:
        ana = Customer(name="Ana", email="ana@shop.example")
        session.add(ana)
        bea = await create_agent(session, "bea@desk.test", "Bea", "secret-pass")
        await session.flush()
        return ana, Who(Actor.AGENT, bea.id, "Bea")


async def _new_ticket(sessions: Sessions, ana: Customer, now: dt.datetime = MONDAY) -> int:
    async with transaction(sessions) as session:
        customer = await session.get(Customer, ana.id)
        assert customer is not None
        ticket = await tickets.create(
            session,
            requester=customer,
            service_id=BILLING,
            subject="Invoice twice",
            message="I was charged twice",
            who=Who(Actor.CUSTOMER, ana.id, "Ana"),
            now=now,
        )
        return ticket.id


async def _history(
    sessions: Sessions, ticket_id: int, field: str
) -> list[tuple[str | None, str | None]]:
    async with sessions() as session:
        rows = await session.execute(
            select(TicketEvent.old_value, TicketEvent.new_value)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.field == field)
            .order_by(TicketEvent.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_a_ticket_goes_through_its_whole_life_and_every_change_is_in_history(
    sessions: Sessions,
) -> None:
    ana, bea = await _people(sessions)
    ticket_id = await _new_ticket(sessions, ana)
    customer = Who(Actor.CUSTOMER, ana.id, "Ana")
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        assert ticket.pickup_due_at == dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.UTC)  # 16 bh
        await tickets.assign(session, ticket, bea.id, bea, MONDAY + dt.timedelta(hours=1))
        assert ticket.status is TicketStatus.OPEN and ticket.picked_up_at is not None
        await tickets.reply(
            session,
            ticket,
            bea,
            "Which invoice number?",
            MONDAY + dt.timedelta(hours=2),
            set_status=TicketStatus.PENDING,
        )
        assert ticket.resolution_due_at is None  # paused while waiting on the customer
        await tickets.reply(
            session, ticket, bea, "Customer is a VIP", MONDAY + dt.timedelta(hours=2), internal=True
        )
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(session, ticket, customer, "INV-7", MONDAY + dt.timedelta(hours=3))
        assert ticket.status is TicketStatus.OPEN  # the customer answered
        assert ticket.resolution_due_at is not None
        await tickets.reply(
            session,
            ticket,
            bea,
            "Refunded.",
            MONDAY + dt.timedelta(hours=4),
            set_status=TicketStatus.RESOLVED,
        )
        await tickets.change_status(
            session,
            ticket,
            TicketStatus.CLOSED,
            customer,
            MONDAY + dt.timedelta(hours=5),
            CloseReason.APPROVED,
        )
        assert ticket.close_reason == "approved"
    assert await _history(sessions, ticket_id, "status") == [
        (None, "new"),
        ("new", "open"),
        ("open", "pending"),
        ("pending", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
    ]
    assert await _history(sessions, ticket_id, "agent") == [(None, str(bea.id))]


async def test_illegal_changes_are_refused_and_change_nothing(sessions: Sessions) -> None:
    ana, bea = await _people(sessions)
    ticket_id = await _new_ticket(sessions, ana)
    customer = Who(Actor.CUSTOMER, ana.id, "Ana")
    with pytest.raises(IllegalTransition) as refused:
        async with transaction(sessions) as session:
            ticket = await locked_ticket(session, ticket_id)
            await tickets.change_status(
                session, ticket, TicketStatus.CLOSED, customer, MONDAY, CloseReason.APPROVED
            )
    assert refused.value.http_status == 409 and "customer" in refused.value.message.lower()
    with pytest.raises(IllegalTransition):
        async with transaction(sessions) as session:
            ticket = await locked_ticket(session, ticket_id)
            await tickets.change_status(session, ticket, TicketStatus.CLOSED, bea, MONDAY)
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.NEW
    assert await _history(sessions, ticket_id, "status") == [(None, "new")]


async def test_a_reopened_ticket_goes_back_to_the_same_agent(sessions: Sessions) -> None:
    ana, bea = await _people(sessions)
    ticket_id = await _new_ticket(sessions, ana)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(session, ticket, bea, "Done", MONDAY, set_status=TicketStatus.RESOLVED)
        await tickets.change_status(
            session,
            ticket,
            TicketStatus.OPEN,
            Who(Actor.CUSTOMER, ana.id),
            MONDAY + dt.timedelta(hours=1),
        )
        assert ticket.status is TicketStatus.OPEN and ticket.agent_id == bea.id


async def test_tecnospeed_rule_closes_a_pending_ticket_as_inactive_after_three_days(
    sessions: Sessions,
) -> None:
    ana, bea = await _people(sessions)
    ticket_id = await _new_ticket(sessions, ana)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(
            session, ticket, bea, "Please send the invoice", MONDAY, set_status=TicketStatus.PENDING
        )
    report = await run_ticket_timers(sessions, MONDAY + dt.timedelta(days=2, hours=23))
    assert report.closed_inactive == []
    report = await run_ticket_timers(sessions, MONDAY + dt.timedelta(days=3, minutes=1))
    assert report.closed_inactive == [ticket_id]
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.status, ticket.close_reason) == (TicketStatus.CLOSED, "inactive")
        last = await session.scalar(
            select(TicketMessage.body)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.id.desc())
            .limit(1)
        )
    assert last is not None and "closed as inactive" in last


async def test_modera_rule_reminds_twice_then_closes_and_two_workers_never_double(
    sessions: Sessions,
) -> None:
    ana, bea = await _people(sessions)
    async with transaction(sessions) as session:
        service = await session.get(Service, BILLING)
        assert service is not None
        service.inactivity_policy = MODERA.to_dict()
    ticket_id = await _new_ticket(sessions, ana)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(
            session, ticket, bea, "Can you test it?", MONDAY, set_status=TicketStatus.PENDING
        )
    day30 = MONDAY + dt.timedelta(days=30, minutes=1)  # Wednesday 23 December
    both = await asyncio.gather(
        run_ticket_timers(sessions, day30), run_ticket_timers(sessions, day30)
    )
    assert sorted(r.reminded for r in both) == [[], [ticket_id]]
    day32 = dt.datetime(2026, 12, 25, 10, 2, tzinfo=dt.UTC)  # Friday: two business days on
    second = await run_ticket_timers(sessions, day32)
    assert second.reminded == [ticket_id]
    too_early = await run_ticket_timers(sessions, dt.datetime(2026, 12, 28, 10, 0, tzinfo=dt.UTC))
    assert too_early.closed_inactive == []
    closing = await asyncio.gather(
        *(
            run_ticket_timers(sessions, dt.datetime(2026, 12, 29, 10, 3, tzinfo=dt.UTC))
            for _ in range(2)
        )
    )
    assert sorted(r.closed_inactive for r in closing) == [[], [ticket_id]]
    assert await _history(sessions, ticket_id, "reminder") == [("0", "1"), ("1", "2")]


async def test_a_resolved_ticket_left_unconfirmed_is_closed_as_solved(sessions: Sessions) -> None:
    ana, bea = await _people(sessions)
    ticket_id = await _new_ticket(sessions, ana)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        await tickets.reply(session, ticket, bea, "Fixed", MONDAY, set_status=TicketStatus.RESOLVED)
    report = await run_ticket_timers(sessions, MONDAY + dt.timedelta(days=7, minutes=1))
    assert report.closed_unconfirmed == [ticket_id]
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.close_reason == "solved"


async def test_the_timers_visit_only_quiet_tickets_whose_step_can_be_due(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolved tickets wait a week for the customer: a timer run every 30 s must not
    lock and re-read each of them (the desk's backlog) to find the few that are due."""
    ana, bea = await _people(sessions)
    week_old, fresh = await _new_ticket(sessions, ana), []
    for n in range(20):
        fresh.append(await _new_ticket(sessions, ana, MONDAY + dt.timedelta(days=6, minutes=n)))
    async with transaction(sessions) as session:
        for ticket_id, at in [(week_old, MONDAY)] + [
            (t, MONDAY + dt.timedelta(days=6, minutes=n)) for n, t in enumerate(fresh)
        ]:
            ticket = await locked_ticket(session, ticket_id)
            await tickets.reply(session, ticket, bea, "Fixed", at, set_status=TicketStatus.RESOLVED)
    visited: list[int] = []
    inactivity = ticketing.timers._inactivity

    async def recording(session: AsyncSession, ticket_id: int, *args: object) -> None:
        visited.append(ticket_id)
        await inactivity(session, ticket_id, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ticketing.timers, "_inactivity", recording)
    report = await run_ticket_timers(sessions, MONDAY + dt.timedelta(days=7, minutes=1))
    assert report.closed_unconfirmed == [week_old]
    assert visited == [week_old]  # the other twenty have six days to go


async def test_sla_warning_then_breach_are_flagged_once_in_history(sessions: Sessions) -> None:
    ana, _ = await _people(sessions)
    ticket_id = await _new_ticket(sessions, ana)  # pickup due Tuesday 17:00 (16 business hours)
    warn = await run_ticket_timers(sessions, dt.datetime(2026, 11, 24, 16, 30, tzinfo=dt.UTC))
    assert warn.sla_warnings == [(ticket_id, "pickup")]
    again = await run_ticket_timers(sessions, dt.datetime(2026, 11, 24, 16, 40, tzinfo=dt.UTC))
    assert again.sla_warnings == []
    breach = await run_ticket_timers(sessions, dt.datetime(2026, 11, 24, 17, 1, tzinfo=dt.UTC))
    assert breach.sla_breaches == [(ticket_id, "pickup")]
    assert await _history(sessions, ticket_id, "sla_pickup") == [
        ("due", "warning"),
        ("due", "breached"),
    ]


async def test_an_organizations_tickets_wait_for_a_designated_contacts_approval(
    sessions: Sessions,
) -> None:
    ana, bea = await _people(sessions)
    async with transaction(sessions) as session:
        org = Organization(name="Shop", domain="shop.example", requires_approval=True)
        boss = Customer(name="Boss", email="boss@shop.example")
        session.add_all([org, boss])
        await session.flush()
        session.add(OrganizationContact(organization_id=org.id, customer_id=boss.id))
    ticket_id = await _new_ticket(sessions, ana)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        assert ticket.awaiting_approval and ticket.cc == ["boss@shop.example"]
        await tickets.assign(session, ticket, bea.id, bea, MONDAY)
        assert ticket.status is TicketStatus.NEW  # not worked on before the approval
        with pytest.raises(IllegalTransition):
            await tickets.change_status(session, ticket, TicketStatus.PENDING, bea, MONDAY)
    async with transaction(sessions) as session:
        ticket = await locked_ticket(session, ticket_id)
        approver = await session.scalar(select(Customer).where(Customer.name == "Boss"))
        assert approver is not None
        await tickets.approve(session, ticket, approver, MONDAY + dt.timedelta(hours=1))
        assert not ticket.awaiting_approval and ticket.status is TicketStatus.OPEN


async def test_merging_copies_the_thread_and_closes_the_duplicate(sessions: Sessions) -> None:
    ana, bea = await _people(sessions)
    first = await _new_ticket(sessions, ana)
    second = await _new_ticket(sessions, ana, MONDAY + dt.timedelta(minutes=5))
    async with transaction(sessions) as session:
        duplicate = await locked_ticket(session, second)
        into = await locked_ticket(session, first)
        await tickets.merge(session, duplicate, into, bea, MONDAY + dt.timedelta(hours=1))
    async with sessions() as session:
        closed = await session.get(Ticket, second)
        assert closed is not None
        assert (closed.status, closed.close_reason, closed.merged_into_id) == (
            TicketStatus.CLOSED,
            "duplicate",
            first,
        )
        bodies = list(
            await session.scalars(
                select(TicketMessage.body).where(TicketMessage.ticket_id == first)
            )
        )
    assert bodies.count("I was charged twice") == 2
    assert f"Ticket #{second} was merged into this ticket." in bodies
