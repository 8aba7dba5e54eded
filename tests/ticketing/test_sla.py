"""Tests for ticketing.sla: SLA clocks counted in business hours, paused while pending."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.business_hours import Schedule, ScheduleError, weekdays_schedule
from ticketing.models import Priority, TicketStatus
from ticketing.sla import (
    DEFAULT_TARGETS,
    SlaConfigError,
    SlaState,
    SlaTargets,
    StatusSpan,
    sla_state,
    status_spans,
)

NY = ZoneInfo("America/New_York")
AMS = ZoneInfo("Europe/Amsterdam")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
NEW, OPEN, PENDING, RESOLVED, CLOSED = (
    TicketStatus.NEW,
    TicketStatus.OPEN,
    TicketStatus.PENDING,
    TicketStatus.RESOLVED,
    TicketStatus.CLOSED,
)
# Mon-Fri 09:00-18:00 in New York: nine business hours a day. 2026-01-02 is a Friday.
NINE_TO_SIX = weekdays_schedule("America/New_York", "09:00-18:00")


def ny(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


def ams(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=AMS)


def real(value: datetime) -> datetime:
    """In UTC, so that subtraction gives elapsed real time even across a DST change."""
    return value.astimezone(UTC)


def state(**kwargs: Any) -> SlaState:
    kwargs.setdefault("schedule", NINE_TO_SIX)
    kwargs.setdefault("targets", DEFAULT_TARGETS)
    kwargs.setdefault("priority", Priority.P3)
    kwargs.setdefault("picked_up_at", None)
    kwargs.setdefault("history", [])
    return sla_state(**kwargs)


def only(targets: dict[str, float | None]) -> SlaTargets:
    """Targets in hours for P1 (pickup, resolution), best effort elsewhere."""
    none = {p: None for p in Priority}
    pickup, resolution = targets.get("pickup"), targets.get("resolution")
    return SlaTargets(
        {**none, Priority.P1: None if pickup is None else pickup * H},
        {**none, Priority.P1: None if resolution is None else resolution * H},
    )


# --- targets --------------------------------------------------------------------------------


def test_default_targets_are_moderas_table() -> None:
    assert DEFAULT_TARGETS.to_dict() == {
        "pickup_hours": {"P1": 4, "P2": 8, "P3": 16, "P4": 40, "P5": None},
        "resolution_hours": {"P1": 8, "P2": 16, "P3": 80, "P4": None, "P5": None},
    }
    assert DEFAULT_TARGETS.pickup[Priority.P3] == 16 * H
    assert DEFAULT_TARGETS.resolution[Priority.P4] is None


def test_targets_round_trip_through_json() -> None:
    targets = SlaTargets(
        dict(zip(Priority, [1.5 * H, 20 * MIN, None, 100 * H, timedelta(seconds=1)], strict=True)),
        {p: None for p in Priority},
    )
    data = json.loads(json.dumps(targets.to_dict()))
    assert data["pickup_hours"]["P1"] == 1.5
    assert SlaTargets.from_dict(data) == targets
    assert SlaTargets.from_dict(DEFAULT_TARGETS.to_dict()) == DEFAULT_TARGETS
    assert hash(SlaTargets.from_dict(DEFAULT_TARGETS.to_dict())) == hash(DEFAULT_TARGETS)


def test_from_dict_accepts_fractional_hours_as_whole_seconds() -> None:
    data = DEFAULT_TARGETS.to_dict()
    data["pickup_hours"]["P1"] = 1 / 3
    assert SlaTargets.from_dict(data).pickup[Priority.P1] == 20 * MIN


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("pickup_hours"), "exactly 'pickup_hours' and 'resolution_hours'"),
        (lambda d: d.update(extra=1), "exactly 'pickup_hours' and 'resolution_hours'"),
        (lambda d: d.update(pickup_hours=[4, 8]), r"pickup_hours: expected a mapping"),
        (
            lambda d: d["pickup_hours"].pop("P2"),
            r"pickup_hours: expected one target .* \['P1', 'P3'",
        ),
        (lambda d: d["pickup_hours"].update(P9=1), r"pickup_hours: .* 'P5', 'P9'\]"),
        (lambda d: d["resolution_hours"].update(P1=0), r"resolution_hours\[P1\]: must be more"),
        (lambda d: d["resolution_hours"].update(P1=-2), r"resolution_hours\[P1\]: must be more"),
        (lambda d: d["pickup_hours"].update(P1="4"), r"pickup_hours\[P1\]: expected a number"),
        (lambda d: d["pickup_hours"].update(P1=True), r"pickup_hours\[P1\]: expected a number"),
        (lambda d: d["pickup_hours"].update(P1=float("nan")), "expected a number"),
        (lambda d: d["pickup_hours"].update(P1=float("inf")), "expected a number"),
    ],
)
def test_from_dict_rejects_bad_input_clearly(change: Any, message: str) -> None:
    data = DEFAULT_TARGETS.to_dict()
    change(data)
    with pytest.raises(SlaConfigError, match=message):
        SlaTargets.from_dict(data)


def test_from_dict_rejects_a_non_mapping() -> None:
    with pytest.raises(SlaConfigError):
        SlaTargets.from_dict([("pickup_hours", {})])  # type: ignore[arg-type]
    assert issubclass(SlaConfigError, ValueError)


@pytest.mark.parametrize("bad", [timedelta(), -H, H + timedelta(microseconds=1), 4])
def test_constructor_rejects_bad_durations(bad: Any) -> None:
    with pytest.raises(SlaConfigError, match=r"pickup\[P1\]"):
        SlaTargets({**DEFAULT_TARGETS.pickup, Priority.P1: bad}, DEFAULT_TARGETS.resolution)


def test_constructor_needs_every_priority() -> None:
    with pytest.raises(SlaConfigError, match=r"resolution: expected one target \(or None\) per"):
        SlaTargets(DEFAULT_TARGETS.pickup, {Priority.P1: H})
    with pytest.raises(SlaConfigError, match="expected a mapping"):
        SlaTargets(DEFAULT_TARGETS.pickup, None)  # type: ignore[arg-type]


# --- pickup ---------------------------------------------------------------------------------

FRIDAY_4PM = ny(2026, 1, 2, 16)


def test_p3_pickup_created_friday_afternoon_is_due_tuesday_2pm() -> None:
    # Fri 16-18 (2 h) + Mon 09-18 (9 h) + Tue 09-14 (5 h) = 16 business hours.
    clock = state(created_at=FRIDAY_4PM, now=FRIDAY_4PM).pickup
    assert clock.due_at == ny(2026, 1, 6, 14)
    assert clock.due_at is not None and clock.due_at.tzinfo is UTC
    assert (clock.elapsed, clock.remaining, clock.target) == (timedelta(), 16 * H, 16 * H)
    assert clock.running and not (clock.breached or clock.warning or clock.stopped)


@pytest.mark.parametrize(
    ("now", "elapsed"),
    [
        (ny(2026, 1, 2, 17), 1 * H),
        (ny(2026, 1, 3, 12), 2 * H),  # Saturday: the clock stands still
        (ny(2026, 1, 5, 8, 59), 2 * H),
        (ny(2026, 1, 5, 12), 5 * H),
        (ny(2026, 1, 5, 20), 11 * H),
    ],
)
def test_pickup_counts_only_business_hours(now: datetime, elapsed: timedelta) -> None:
    clock = state(created_at=FRIDAY_4PM, now=now).pickup
    assert (clock.elapsed, clock.remaining) == (elapsed, 16 * H - elapsed)
    assert clock.due_at == ny(2026, 1, 6, 14)  # the same instant, however late we look


@pytest.mark.parametrize(
    ("now", "warning", "breached", "remaining"),
    [
        (ny(2026, 1, 6, 12, 59), False, False, 61 * MIN),
        (ny(2026, 1, 6, 13), True, False, H),  # warn_before = 1 h
        (ny(2026, 1, 6, 14), True, False, timedelta()),  # due now: not late yet
        (ny(2026, 1, 6, 14, 0, 1), False, True, -timedelta(seconds=1)),
        (ny(2026, 1, 6, 20), False, True, -4 * H),
    ],
)
def test_pickup_warning_and_breach_instants(
    now: datetime, warning: bool, breached: bool, remaining: timedelta
) -> None:
    clock = state(created_at=FRIDAY_4PM, now=now).pickup
    assert (clock.warning, clock.breached, clock.remaining) == (warning, breached, remaining)
    assert clock.due_at == ny(2026, 1, 6, 14)


def test_custom_warn_before() -> None:
    now = ny(2026, 1, 6, 11)  # 3 h left
    assert not state(created_at=FRIDAY_4PM, now=now).pickup.warning
    assert state(created_at=FRIDAY_4PM, now=now, warn_before=3 * H).pickup.warning


@pytest.mark.parametrize(
    ("picked_up_at", "elapsed", "due_at", "breached"),
    [
        (ny(2026, 1, 5, 10), 3 * H, None, False),
        (ny(2026, 1, 6, 14), 16 * H, ny(2026, 1, 6, 14), False),  # just in time
        (ny(2026, 1, 6, 14, 1), 16 * H + MIN, ny(2026, 1, 6, 14), True),
    ],
)
def test_pickup_stops_at_pickup(
    picked_up_at: datetime, elapsed: timedelta, due_at: datetime | None, breached: bool
) -> None:
    clock = state(
        created_at=FRIDAY_4PM,
        picked_up_at=picked_up_at,
        history=[(picked_up_at, OPEN)],
        now=ny(2026, 1, 20),
    ).pickup
    assert clock.stopped and not clock.running and not clock.warning
    assert (clock.elapsed, clock.due_at, clock.breached) == (elapsed, due_at, breached)


def test_breached_after_hours_even_though_no_business_time_passed() -> None:
    created = ny(2026, 1, 2, 14)  # P1: 4 h, due Friday 18:00
    at_six = state(created_at=created, priority=Priority.P1, now=ny(2026, 1, 2, 18)).pickup
    assert (at_six.breached, at_six.warning, at_six.due_at) == (False, True, ny(2026, 1, 2, 18))
    saturday = state(created_at=created, priority=Priority.P1, now=ny(2026, 1, 3, 10)).pickup
    assert (saturday.elapsed, saturday.remaining) == (4 * H, timedelta())
    assert saturday.breached and saturday.due_at == ny(2026, 1, 2, 18)


def test_pickup_skips_a_holiday() -> None:
    # Monday 2026-01-19 is a holiday: Fri 2 h + Tue 9 h + Wed 5 h = 16 h, due Wednesday 14:00.
    schedule = Schedule(
        "America/New_York", NINE_TO_SIX.weekly, holidays=frozenset({date(2026, 1, 19)})
    )
    created = ny(2026, 1, 16, 16)
    clock = state(schedule=schedule, created_at=created, now=ny(2026, 1, 19, 17)).pickup
    assert (clock.elapsed, clock.due_at) == (2 * H, ny(2026, 1, 21, 14))


def test_a_ticket_closed_before_pickup_stops_its_pickup_clock() -> None:
    closed_at = ny(2026, 1, 5, 10)
    result = state(created_at=FRIDAY_4PM, history=[(closed_at, CLOSED)], now=ny(2026, 2, 1))
    assert result.pickup.stopped and not result.pickup.breached
    assert result.pickup.elapsed == 3 * H
    assert result.resolution.stopped and not result.resolution.started
    assert result.resolution.elapsed == timedelta()


def test_pending_does_not_pause_pickup() -> None:
    history = [(ny(2026, 1, 5, 9), PENDING)]  # an agent asked before anyone took it
    clock = state(created_at=FRIDAY_4PM, history=history, now=ny(2026, 1, 5, 18)).pickup
    assert clock.elapsed == 11 * H and clock.running


def test_best_effort_never_breaches() -> None:
    result = state(
        created_at=FRIDAY_4PM,
        priority=Priority.P5,
        picked_up_at=ny(2026, 3, 2, 9),
        history=[(ny(2026, 3, 2, 9), OPEN)],
        now=ny(2027, 1, 1),
    )
    for clock in (result.pickup, result.resolution):
        assert clock.target is None and clock.remaining is None and clock.due_at is None
        assert not clock.breached and not clock.warning
    assert result.pickup.elapsed > 100 * H and result.resolution.elapsed > 100 * H


# --- resolution -----------------------------------------------------------------------------

MONDAY_9 = ny(2026, 1, 5, 9)


def p1(history: list[tuple[datetime, TicketStatus]], now: datetime, **kwargs: Any) -> SlaState:
    return state(
        priority=Priority.P1,  # resolution 8 h
        created_at=MONDAY_9 - H,
        picked_up_at=MONDAY_9,
        history=[(MONDAY_9, OPEN), *history],
        now=now,
        **kwargs,
    )


def test_resolution_runs_from_pickup() -> None:
    clock = p1([], ny(2026, 1, 5, 12)).resolution
    assert (clock.elapsed, clock.remaining, clock.due_at) == (3 * H, 5 * H, ny(2026, 1, 5, 17))


def test_resolution_has_not_started_before_pickup() -> None:
    clock = state(created_at=FRIDAY_4PM, priority=Priority.P1, now=ny(2026, 1, 5, 12)).resolution
    assert not clock.started and not clock.running and not clock.paused
    assert (clock.elapsed, clock.remaining, clock.due_at) == (timedelta(), 8 * H, None)


def test_pending_pauses_resolution_overnight() -> None:
    history = [(ny(2026, 1, 5, 10), PENDING), (ny(2026, 1, 6, 10), OPEN)]
    paused = p1(history, ny(2026, 1, 5, 20)).resolution
    assert paused.paused and not paused.running and not paused.warning
    assert (paused.elapsed, paused.remaining, paused.due_at) == (H, 7 * H, None)
    # Mon 09-10 and Tue 10-11 count; Mon 10-18 and Tue 09-10 were the customer's.
    back = p1(history, ny(2026, 1, 6, 11)).resolution
    assert (back.elapsed, back.remaining, back.due_at) == (2 * H, 6 * H, ny(2026, 1, 6, 17))
    assert p1([], ny(2026, 1, 6, 11)).resolution.breached  # without the pause: due Mon 17:00


def test_pending_over_a_weekend_and_a_holiday() -> None:
    schedule = Schedule(
        "America/New_York", NINE_TO_SIX.weekly, holidays=frozenset({date(2026, 1, 12)})
    )
    picked = ny(2026, 1, 9, 14)  # a Friday
    history = [(picked, OPEN), (ny(2026, 1, 9, 17), PENDING), (ny(2026, 1, 13, 10), OPEN)]
    clock = state(
        schedule=schedule,
        priority=Priority.P1,
        created_at=picked,
        picked_up_at=picked,
        history=history,
        now=ny(2026, 1, 13, 10),
    ).resolution
    # Fri 14-17 counts (3 h); Fri 17-18, the weekend, Monday's holiday and Tue 09-10 don't.
    assert (clock.elapsed, clock.due_at) == (3 * H, ny(2026, 1, 13, 15))


def test_resolved_stops_and_reopening_resumes() -> None:
    history = [(ny(2026, 1, 5, 12), RESOLVED), (ny(2026, 1, 7, 9), OPEN)]
    resolved = p1(history, ny(2026, 1, 6, 12)).resolution
    assert resolved.stopped and not resolved.running and not resolved.breached
    assert (resolved.elapsed, resolved.due_at) == (3 * H, None)
    reopened = p1(history, ny(2026, 1, 7, 10)).resolution
    assert reopened.running and (reopened.elapsed, reopened.due_at) == (4 * H, ny(2026, 1, 7, 14))
    closed = p1([(ny(2026, 1, 5, 18), RESOLVED), (ny(2026, 1, 9), CLOSED)], ny(2026, 2, 1))
    assert closed.resolution.stopped and closed.resolution.breached
    assert closed.resolution.due_at == ny(2026, 1, 5, 17)


def test_paused_exactly_on_target_is_not_breached() -> None:
    clock = p1([(ny(2026, 1, 5, 17), PENDING)], ny(2026, 1, 8)).resolution
    assert clock.paused and not clock.breached and clock.remaining == timedelta()
    assert clock.due_at == ny(2026, 1, 5, 17)


def test_future_history_and_pickup_are_not_known_yet() -> None:
    later = [(ny(2026, 1, 5, 15), PENDING)]
    assert p1(later, ny(2026, 1, 5, 12)) == p1([], ny(2026, 1, 5, 12))
    early = state(created_at=FRIDAY_4PM, picked_up_at=ny(2026, 1, 6), now=ny(2026, 1, 5, 12))
    assert early == state(created_at=FRIDAY_4PM, now=ny(2026, 1, 5, 12))


def test_history_is_sorted_and_starts_new() -> None:
    history = [(ny(2026, 1, 5, 12), PENDING), (ny(2026, 1, 5, 10), OPEN)]
    spans = status_spans(ny(2026, 1, 5, 9), history, ny(2026, 1, 5, 13))
    assert spans == [
        StatusSpan(NEW, ny(2026, 1, 5, 9), ny(2026, 1, 5, 10)),
        StatusSpan(OPEN, ny(2026, 1, 5, 10), ny(2026, 1, 5, 12)),
        StatusSpan(PENDING, ny(2026, 1, 5, 12), None),
    ]
    # A change at creation time (conversion's first event) sets the starting status.
    assert status_spans(MONDAY_9, [(MONDAY_9, RESOLVED)], MONDAY_9 + H) == [
        StatusSpan(RESOLVED, MONDAY_9, None)
    ]


def test_same_instant_changes_keep_their_order_across_zones() -> None:
    # 02:00 on 2026-10-25 in Amsterdam is ambiguous; as fold=0 it is 00:00 UTC. Python will not
    # call it equal to 00:00 UTC (PEP 495), so the module must order changes by UTC itself.
    ambiguous = ams(2026, 10, 25, 2)
    same = datetime(2026, 10, 25, 0, tzinfo=UTC)
    assert ambiguous != same and not ambiguous < same and not same < ambiguous
    start = ams(2026, 10, 24, 12)
    history = [(start, OPEN), (ambiguous, PENDING), (same, OPEN)]
    spans = status_spans(start, history, ams(2026, 10, 25, 12))
    assert [s.status for s in spans] == [OPEN, OPEN]
    assert spans[0].end == same  # pending lasted no time at all; the last change wins


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ScheduleError, match="now"):
        state(created_at=FRIDAY_4PM, now=datetime(2026, 1, 5))
    with pytest.raises(ScheduleError, match="history"):
        state(created_at=FRIDAY_4PM, history=[(datetime(2026, 1, 5), OPEN)], now=MONDAY_9)
    with pytest.raises(ScheduleError, match="picked_up_at"):
        state(created_at=FRIDAY_4PM, picked_up_at=datetime(2026, 1, 5), now=MONDAY_9)


# --- daylight saving time -------------------------------------------------------------------


def test_new_york_spring_forward_always_open() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT: four real hours from midnight end at 05:00 local.
    created = ny(2026, 3, 8)
    clock = state(
        schedule=Schedule.always_open("America/New_York"),
        targets=only({"pickup": 4}),
        priority=Priority.P1,
        created_at=created,
        now=created,
    ).pickup
    assert clock.due_at == ny(2026, 3, 8, 5) == datetime(2026, 3, 8, 9, tzinfo=UTC)


def test_new_york_spring_forward_short_night_shift() -> None:
    # Sunday 01:00-04:00 local is only two real hours on 2026-03-08.
    schedule = weekdays_schedule("America/New_York", "01:00-04:00", days=[6])
    kwargs: dict[str, Any] = dict(
        schedule=schedule, targets=only({"pickup": 4}), priority=Priority.P1
    )
    created = ny(2026, 3, 8, 0, 30)
    mid = state(created_at=created, now=ny(2026, 3, 8, 3, 30), **kwargs).pickup
    assert mid.elapsed == 90 * MIN  # 01:00 EST -> 03:30 EDT
    assert mid.due_at == ny(2026, 3, 15, 3)  # 2 h that night, 2 h the next Sunday
    assert state(created_at=created, now=ny(2026, 3, 9), **kwargs).pickup.elapsed == 2 * H


def test_new_york_pending_across_the_short_night() -> None:
    always = Schedule.always_open("America/New_York")
    picked = ny(2026, 3, 7, 22)
    history = [(picked, OPEN), (ny(2026, 3, 7, 23), PENDING), (ny(2026, 3, 8, 4), OPEN)]
    clock = state(
        schedule=always,
        targets=only({"resolution": 8}),
        priority=Priority.P1,
        created_at=picked,
        picked_up_at=picked,
        history=history,
        now=ny(2026, 3, 8, 4),
    ).resolution
    # 1 h before the pause; the pause (4 real hours) does not count; 7 h left from 04:00 EDT.
    assert (clock.elapsed, clock.due_at) == (H, ny(2026, 3, 8, 11))


@pytest.mark.parametrize(
    ("pause", "due"),
    [
        (timedelta(), ams(2026, 10, 25, 23)),  # the 25-hour day holds 24 h by 23:00 CET
        (H, ams(2026, 10, 26, 0)),
        (2 * H, ams(2026, 11, 1, 1)),  # the last hour waits for next Sunday
    ],
)
def test_amsterdam_fall_back_long_sunday(pause: timedelta, due: datetime) -> None:
    schedule = weekdays_schedule("Europe/Amsterdam", "00:00-24:00", days=[6])
    picked = ams(2026, 10, 25)  # 00:00 CEST
    history: list[tuple[datetime, TicketStatus]] = [(picked, OPEN)]
    if pause:
        history += [(ams(2026, 10, 25, 10), PENDING), (ams(2026, 10, 25, 10) + pause, OPEN)]
    now = ams(2026, 10, 25, 12)
    clock = state(
        schedule=schedule,
        targets=only({"resolution": 24}),
        priority=Priority.P1,
        created_at=picked,
        picked_up_at=picked,
        history=history,
        now=now,
    ).resolution
    assert clock.due_at == due
    # 13 real hours by 12:00 CET, minus the pause. (Subtracting two datetimes that share a tzinfo
    # gives wall-clock time, 12 h here, so compare in UTC.)
    assert clock.elapsed == real(now) - real(picked) - pause
    assert schedule.business_time_between(now, due) == clock.remaining


# --- properties -----------------------------------------------------------------------------

SCHEDULES = [
    NINE_TO_SIX,
    Schedule("America/New_York", NINE_TO_SIX.weekly, holidays=frozenset({date(2026, 3, 9)})),
    Schedule.from_dict(
        {"timezone": "America/New_York", "weekly": {"sun": ["01:00-04:00"], "sat": ["22:00-02:00"]}}
    ),
    Schedule.always_open("Europe/Amsterdam"),
    weekdays_schedule("Europe/Amsterdam", "08:30-12:00,13:00-17:00"),
]
STARTS = [ny(2026, 3, 5, 10), ams(2026, 10, 22, 15)]  # a few days before each DST change
MINUTES = st.integers(0, 6 * 24 * 60).map(lambda m: timedelta(minutes=m))


@st.composite
def tickets(draw: st.DrawFn) -> dict[str, Any]:
    created = draw(st.sampled_from(STARTS)) + draw(MINUTES)
    kwargs: dict[str, Any] = {
        "schedule": draw(st.sampled_from(SCHEDULES)),
        "targets": SlaTargets.from_dict(
            {
                "pickup_hours": {"P1": 4, "P2": 0.5, "P3": 16, "P4": 40, "P5": None},
                "resolution_hours": {"P1": 8, "P2": 2, "P3": 80, "P4": None, "P5": None},
            }
        ),
        "priority": draw(st.sampled_from(list(Priority))),
        "created_at": created,
        "picked_up_at": None,
        "history": [],
    }
    if draw(st.booleans()):
        at = created + draw(MINUTES)
        kwargs["picked_up_at"] = at
        kwargs["history"].append((at, OPEN))
        for status in draw(st.lists(st.sampled_from([PENDING, OPEN, RESOLVED]), max_size=6)):
            at += draw(MINUTES)
            kwargs["history"].append((at, status))
    return kwargs


def clocks(result: SlaState) -> tuple[Any, Any]:
    return result.pickup, result.resolution


PROPERTY = settings(max_examples=150, deadline=None, database=None)


@PROPERTY
@given(tickets(), MINUTES, MINUTES)
def test_elapsed_is_monotonic_in_now(ticket: dict[str, Any], a: timedelta, b: timedelta) -> None:
    earlier = state(now=ticket["created_at"] + a, **ticket)
    later = state(now=ticket["created_at"] + a + b, **ticket)
    for before, after in zip(clocks(earlier), clocks(later), strict=True):
        assert before.elapsed <= after.elapsed
        assert before.breached <= after.breached  # once late, always late


@PROPERTY
@given(tickets(), st.integers(0, 14 * 24 * 60).map(lambda m: timedelta(minutes=m)))
def test_elapsed_never_exceeds_wall_time(ticket: dict[str, Any], offset: timedelta) -> None:
    now = ticket["created_at"] + offset
    result = state(now=now, **ticket)
    assert result.pickup.elapsed <= real(now) - real(ticket["created_at"])
    picked = ticket["picked_up_at"]
    wall = real(now) - real(picked) if picked is not None and picked <= now else timedelta()
    assert result.resolution.elapsed <= wall


@PROPERTY
@given(tickets(), st.integers(0, 14 * 24 * 60).map(lambda m: timedelta(minutes=m)))
def test_running_clocks_are_consistent(ticket: dict[str, Any], offset: timedelta) -> None:
    now = ticket["created_at"] + offset
    schedule = ticket["schedule"]
    for clock in clocks(state(now=now, **ticket)):
        if clock.target is None:
            assert (clock.remaining, clock.due_at, clock.breached) == (None, None, False)
            continue
        assert clock.elapsed + clock.remaining == clock.target
        if clock.breached:
            assert clock.due_at is not None and clock.due_at < now
            assert clock.remaining <= timedelta()
        if clock.running and clock.due_at is not None and clock.due_at < now:
            assert clock.breached
        if clock.running and not clock.breached:
            assert clock.due_at is not None and clock.due_at >= now
            assert schedule.business_time_between(now, clock.due_at) == clock.remaining
        if clock.paused and clock.remaining > timedelta():
            assert clock.due_at is None
        assert clock.warning == (
            clock.running and not clock.breached and clock.remaining <= timedelta(hours=1)
        )


@PROPERTY
@given(tickets(), st.data())
def test_a_pending_pause_never_brings_due_at_earlier(ticket: dict[str, Any], data: Any) -> None:
    picked = ticket["picked_up_at"]
    if picked is None:
        return
    # Only priorities with a resolution target can have a due_at to compare.
    ticket["priority"] = data.draw(st.sampled_from([Priority.P1, Priority.P2, Priority.P3]))
    now = picked + data.draw(MINUTES, label="now after pickup")
    spans = status_spans(ticket["created_at"], ticket["history"], now)
    counting = [
        s for s in spans if s.status in (NEW, OPEN) and (s.end or now) > max(s.start, picked)
    ]
    if not counting:
        return
    span = data.draw(st.sampled_from(counting), label="span")
    start, end = max(span.start, picked), span.end or now
    length = int((end - start).total_seconds() // 60)
    a = start + timedelta(minutes=data.draw(st.integers(0, length), label="pause starts"))
    b = a + timedelta(minutes=data.draw(st.integers(1, 24 * 60), label="pause length"))
    if b > end:
        b = end
    if b <= a:
        return
    # At equal instants: the pause's end, then the ticket's own changes, then the pause's start.
    # Sorted in UTC: Python never calls an ambiguous local time (02:30 on 2026-10-25 in
    # Amsterdam) equal to a time in another zone, so a mixed-zone sort can misorder ties.
    ranked = [(real(at), 1, status) for at, status in ticket["history"]]
    ranked += [(a, 2, PENDING), (b, 0, span.status)]
    paused_history = [(at, status) for at, _, status in sorted(ranked, key=lambda c: c[:2])]
    base = state(now=now, **ticket)
    other = state(now=now, **{**ticket, "history": paused_history})
    assert other.pickup == base.pickup  # pending never pauses pickup
    assert other.resolution.elapsed <= base.resolution.elapsed
    assert other.resolution.breached <= base.resolution.breached
    if base.resolution.due_at is not None and other.resolution.due_at is not None:
        assert other.resolution.due_at >= base.resolution.due_at


@PROPERTY
@given(tickets(), MINUTES)
def test_the_state_as_of_now_ignores_what_comes_later(ticket: dict[str, Any], a: timedelta) -> None:
    now = ticket["created_at"] + a
    known = [(at, status) for at, status in ticket["history"] if at <= now]
    picked = ticket["picked_up_at"]
    truncated = {
        **ticket,
        "history": known,
        "picked_up_at": picked if picked is not None and picked <= now else None,
    }
    assert state(now=now, **ticket) == state(now=now, **truncated)
