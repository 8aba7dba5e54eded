"""The seeds' inactivity rules: Tecnospeed's 3 days, Modera's two reminders then close."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.business_hours import Schedule, weekdays_schedule
from ticketing.models import TicketStatus
from ticketing.policy import (
    DEFAULT_POLICY,
    MODERA,
    InactivityAction,
    InactivityPolicy,
    PolicyError,
    add_business_days,
    next_action,
)

OFFICE = weekdays_schedule("Europe/Amsterdam", ["09:00-17:00"])
UTC = dt.UTC
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def at(day: int, hour: int = 10) -> dt.datetime:
    """November 2026: the 2nd is a Monday."""
    return dt.datetime(2026, 11, day, hour, tzinfo=UTC)


def test_tecnospeed_closes_a_pending_ticket_after_three_days_without_reminders() -> None:
    due = next_action(DEFAULT_POLICY, OFFICE, TicketStatus.PENDING, at(2), 0, None)
    assert due is not None
    assert due.action is InactivityAction.CLOSE_INACTIVE and due.at == at(5)


def test_modera_reminds_twice_two_business_days_apart_then_closes() -> None:
    pending_since = at(2)  # Monday 2 November
    first = next_action(MODERA, OFFICE, TicketStatus.PENDING, pending_since, 0, None)
    assert first is not None and first.action is InactivityAction.REMIND
    assert first.at == pending_since + dt.timedelta(days=30)  # Wednesday 2 December

    sent_first = dt.datetime(2026, 12, 4, 10, tzinfo=UTC)  # a Friday
    second = next_action(MODERA, OFFICE, TicketStatus.PENDING, pending_since, 1, sent_first)
    assert second is not None and second.action is InactivityAction.REMIND
    assert second.at == dt.datetime(2026, 12, 8, 10, tzinfo=UTC)  # Tuesday: the weekend skipped

    close = next_action(MODERA, OFFICE, TicketStatus.PENDING, pending_since, 2, second.at)
    assert close is not None and close.action is InactivityAction.CLOSE_INACTIVE
    assert close.at == dt.datetime(2026, 12, 10, 10, tzinfo=UTC)


def test_holidays_are_not_business_days() -> None:
    with_christmas = Schedule.from_dict(
        {**OFFICE.to_dict(), "holidays": ["2026-12-24", "2026-12-25"]}
    )
    wednesday = dt.datetime(2026, 12, 23, 10, tzinfo=UTC)
    assert add_business_days(with_christmas, wednesday, 1) == dt.datetime(
        2026, 12, 28, 10, tzinfo=UTC
    )


def test_a_resolved_ticket_is_closed_when_left_unconfirmed() -> None:
    due = next_action(DEFAULT_POLICY, OFFICE, TicketStatus.RESOLVED, at(2), 0, None)
    assert due is not None and due.action is InactivityAction.CLOSE_UNCONFIRMED
    assert due.at == at(2) + dt.timedelta(days=DEFAULT_POLICY.resolved_close_days)


@pytest.mark.parametrize("status", [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.CLOSED])
def test_tickets_waiting_on_the_agent_are_never_chased(status: TicketStatus) -> None:
    assert next_action(MODERA, OFFICE, status, at(2), 0, None) is None


def test_a_desk_that_is_never_open_still_closes_eventually() -> None:
    never = Schedule.from_dict({"timezone": "UTC", "weekly": {}})
    assert add_business_days(never, at(2), 2) == at(4)


def test_policies_round_trip_and_refuse_nonsense() -> None:
    assert InactivityPolicy.from_dict(MODERA.to_dict()) == MODERA
    assert InactivityPolicy.from_dict(None) == DEFAULT_POLICY
    assert InactivityPolicy.from_dict({"wait_days": 5}).wait_days == 5
    for bad in ({"wait_days": -1}, {"reminders": "two"}, {"snooze": 1}, {"reminders": 11}):
        with pytest.raises(PolicyError):
            InactivityPolicy.from_dict(bad)


@settings(max_examples=150, deadline=None, database=None)
@given(
    start=st.datetimes(
        min_value=dt.datetime(2026, 1, 1),
        max_value=dt.datetime(2027, 12, 31),
        timezones=st.just(UTC),
    ),
    days=st.integers(min_value=0, max_value=20),
)
def test_business_days_land_on_open_days_at_the_same_local_time(
    start: dt.datetime, days: int
) -> None:
    later = add_business_days(OFFICE, start, days)
    assert later >= start
    local_start = start.astimezone(AMSTERDAM)
    local_later = later.astimezone(AMSTERDAM)
    if days:
        assert local_later.weekday() < 5
        # Amsterdam changes its clocks on Sundays, never a business day here: the
        # wall time is always kept exactly.
        assert local_later.time() == local_start.time()
    weekdays_between = sum(
        1
        for n in range(1, (local_later.date() - local_start.date()).days + 1)
        if (local_start.date() + dt.timedelta(days=n)).weekday() < 5
    )
    assert weekdays_between == days
