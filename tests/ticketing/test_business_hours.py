"""Tests for ticketing.business_hours: concrete calendars, DST edge cases and properties."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticketing.business_hours import (
    HORIZON_DAYS,
    Schedule,
    ScheduleError,
    TimeRange,
    weekdays_schedule,
)

NY = ZoneInfo("America/New_York")
AMS = ZoneInfo("Europe/Amsterdam")
HOUR = timedelta(hours=1)


def at(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rng(text: str) -> TimeRange:
    return TimeRange.parse(text)


# --- TimeRange --------------------------------------------------------------------------------


def test_time_range_parse_and_str() -> None:
    assert rng("09:00-12:30") == TimeRange(time(9), time(12, 30))
    assert rng("22:00-02:00") == TimeRange(time(22), time(2))
    assert rng("00:00-24:00") == TimeRange(time(0), time(0))
    assert rng(" 08:30:15 - 09:00 ") == TimeRange(time(8, 30, 15), time(9))
    assert str(rng("00:00-24:00")) == "00:00-24:00"
    assert str(rng("22:00-00:00")) == "22:00-24:00"
    assert str(rng("08:30:15-09:00")) == "08:30:15-09:00"


@pytest.mark.parametrize(
    "text",
    ["", "9-5", "09:00", "24:00-10:00", "25:00-26:00", "09:60-10:00", "09:00-10:00-11:00", "a-b"],
)
def test_time_range_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ScheduleError, match="invalid time"):
        TimeRange.parse(text)


def test_time_range_rejects_aware_or_sub_second_times() -> None:
    with pytest.raises(ScheduleError):
        TimeRange(time(9, tzinfo=UTC), time(10))
    with pytest.raises(ScheduleError):
        TimeRange(time(9), time(10, 0, 0, 5))


# --- concrete calendars -----------------------------------------------------------------------

# 2026-01-02 is a Friday, 2026-01-05 a Monday.


def test_new_york_nine_to_six() -> None:
    s = weekdays_schedule("America/New_York", "09:00-18:00")
    assert not s.is_open(at(NY, 2026, 1, 5, 8, 59))
    assert s.is_open(at(NY, 2026, 1, 5, 9, 0))
    assert s.is_open(at(NY, 2026, 1, 5, 17, 59, 59))
    assert not s.is_open(at(NY, 2026, 1, 5, 18, 0))  # end is exclusive
    assert not s.is_open(at(NY, 2026, 1, 10, 12, 0))  # Saturday
    close = s.next_close(at(NY, 2026, 1, 5, 10, 0))
    assert close == utc(2026, 1, 5, 23, 0)
    assert close is not None and close.tzinfo is UTC
    assert s.next_close(at(NY, 2026, 1, 5, 19, 0)) is None
    week = s.business_time_between(at(NY, 2026, 1, 5), at(NY, 2026, 1, 12))
    assert week == 45 * HOUR


def test_friday_evening_to_monday_morning() -> None:
    s = weekdays_schedule("America/New_York", "09:00-18:00")
    friday, monday = at(NY, 2026, 1, 2, 17, 0), at(NY, 2026, 1, 5, 10, 0)
    assert s.business_time_between(friday, monday) == 2 * HOUR
    assert s.business_time_between(monday, friday) == timedelta(0)
    assert s.add_business_time(friday, 2 * HOUR) == monday
    assert s.next_open(at(NY, 2026, 1, 2, 18, 30)) == at(NY, 2026, 1, 5, 9, 0)
    # Inputs in any zone; outputs in UTC.
    assert s.next_open(utc(2026, 1, 3, 12, 0)) == utc(2026, 1, 5, 14, 0)


def test_amsterdam_eight_thirty_to_five() -> None:
    s = weekdays_schedule("Europe/Amsterdam", ["08:30-17:00"])
    assert not s.is_open(at(AMS, 2026, 2, 2, 8, 29))
    assert s.is_open(at(AMS, 2026, 2, 2, 8, 30))
    assert s.is_open(utc(2026, 2, 2, 7, 30))  # CET = UTC+1
    assert s.is_open(utc(2026, 6, 1, 6, 30))  # CEST = UTC+2
    assert not s.is_open(at(AMS, 2026, 2, 2, 17, 0))
    for monday in (at(AMS, 2026, 2, 2), at(AMS, 2026, 6, 1)):
        assert s.business_time_between(monday, monday + timedelta(days=7)) == timedelta(hours=42.5)


def test_lunch_break() -> None:
    s = weekdays_schedule("America/New_York", "09:00-12:00,13:00-18:00")
    monday = at(NY, 2026, 1, 5)
    assert list(s.open_intervals(monday, monday + timedelta(days=1))) == [
        (utc(2026, 1, 5, 14), utc(2026, 1, 5, 17)),
        (utc(2026, 1, 5, 18), utc(2026, 1, 5, 23)),
    ]
    assert not s.is_open(at(NY, 2026, 1, 5, 12, 30))
    assert s.next_open(at(NY, 2026, 1, 5, 12, 30)) == at(NY, 2026, 1, 5, 13, 0)
    assert s.next_close(at(NY, 2026, 1, 5, 11, 0)) == at(NY, 2026, 1, 5, 12, 0)
    assert s.business_time_between(monday, monday + timedelta(days=1)) == 8 * HOUR
    assert s.add_business_time(at(NY, 2026, 1, 5, 11, 0), 2 * HOUR) == at(NY, 2026, 1, 5, 14, 0)


def test_range_across_midnight_belongs_to_its_start_day() -> None:
    friday_night = {4: (rng("22:00-02:00"),)}
    saturday_holiday = Schedule("Europe/Amsterdam", friday_night, frozenset({date(2026, 1, 3)}))
    assert saturday_holiday.is_open(at(AMS, 2026, 1, 3, 1, 0))
    assert not saturday_holiday.is_open(at(AMS, 2026, 1, 3, 2, 0))
    assert saturday_holiday.next_close(at(AMS, 2026, 1, 2, 23, 0)) == at(AMS, 2026, 1, 3, 2, 0)
    friday_holiday = Schedule("Europe/Amsterdam", friday_night, frozenset({date(2026, 1, 2)}))
    assert not friday_holiday.is_open(at(AMS, 2026, 1, 3, 1, 0))
    assert friday_holiday.next_open(at(AMS, 2026, 1, 2)) == at(AMS, 2026, 1, 9, 22, 0)


def test_touching_ranges_merge_across_midnight() -> None:
    s = Schedule("UTC", {0: (rng("22:00-24:00"),), 1: (rng("00:00-02:00"), rng("01:00-03:00"))})
    intervals = list(s.open_intervals(utc(2026, 1, 5), utc(2026, 1, 7)))
    assert intervals == [(utc(2026, 1, 5, 22), utc(2026, 1, 6, 3))]
    assert s.next_close(utc(2026, 1, 5, 23)) == utc(2026, 1, 6, 3)
    assert s.business_time_between(utc(2026, 1, 5), utc(2026, 1, 7)) == 5 * HOUR


HOLIDAY_SCHEDULE = Schedule(
    "America/New_York",
    {d: (rng("09:00-18:00"),) for d in range(5)},
    holidays=frozenset({date(2026, 12, 25)}),
    exceptions={
        date(2026, 12, 24): (rng("09:00-13:00"),),  # Thursday: short day
        date(2026, 12, 31): (),  # Thursday: closed
        date(2026, 12, 19): (rng("10:00-14:00"),),  # Saturday: open for once
    },
)


def test_holiday_and_exception_dates() -> None:
    s = HOLIDAY_SCHEDULE
    assert s.is_open(at(NY, 2026, 12, 24, 12, 59))
    assert not s.is_open(at(NY, 2026, 12, 24, 13, 0))
    assert not s.is_open(at(NY, 2026, 12, 25, 10, 0))
    assert not s.is_open(at(NY, 2026, 12, 31, 10, 0))
    assert s.is_open(at(NY, 2026, 12, 19, 10, 0))
    # Over the exception and the holiday (and the weekend) to Monday.
    assert s.next_open(at(NY, 2026, 12, 24, 14, 0)) == at(NY, 2026, 12, 28, 9, 0)
    assert s.next_open(at(NY, 2026, 12, 31, 10, 0)) == at(NY, 2027, 1, 1, 9, 0)
    week = s.business_time_between(at(NY, 2026, 12, 21), at(NY, 2026, 12, 28))
    assert week == 3 * 9 * HOUR + 4 * HOUR
    assert s.add_business_time(at(NY, 2026, 12, 24, 12, 0), 2 * HOUR) == at(NY, 2026, 12, 28, 10)


def test_exception_wins_over_holiday_on_the_same_date() -> None:
    day = date(2026, 1, 5)
    s = Schedule("UTC", {0: (rng("09:00-17:00"),)}, frozenset({day}), {day: (rng("10:00-11:00"),)})
    assert s.business_time_between(utc(2026, 1, 5), utc(2026, 1, 6)) == HOUR


# --- DST --------------------------------------------------------------------------------------

DST_DAYS = [
    # zone, Sunday, hours in 00:00-24:00, in 01:00-03:00, in 02:30-03:30
    ("America/New_York", date(2026, 3, 8), 23, 1, 0.5),
    ("America/New_York", date(2026, 11, 1), 25, 3, 1),
    ("Europe/Amsterdam", date(2026, 3, 29), 23, 1, 0.5),
    ("Europe/Amsterdam", date(2026, 10, 25), 25, 3, 2),
    ("Australia/Lord_Howe", date(2026, 10, 4), 23.5, 1.5, 1),
    ("Australia/Lord_Howe", date(2026, 4, 5), 24.5, 2.5, 1),
]


@pytest.mark.parametrize(("zone", "day", "full", "early", "gap"), DST_DAYS)
def test_dst_days(zone: str, day: date, full: float, early: float, gap: float) -> None:
    tz = ZoneInfo(zone)
    around = (datetime.combine(day, time(), tz) - timedelta(days=2), timedelta(days=4))
    for text, hours in (("00:00-24:00", full), ("01:00-03:00", early), ("02:30-03:30", gap)):
        s = Schedule(zone, {6: (rng(text),)})
        start, span = around
        assert s.business_time_between(start, start + span) == timedelta(hours=hours), text


def test_spring_forward_gap_maps_to_end_of_gap() -> None:
    s = Schedule("America/New_York", {6: (rng("02:30-03:30"),)})
    day = at(NY, 2026, 3, 8)
    assert list(s.open_intervals(day, day + timedelta(days=1))) == [
        (utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 30))  # 03:00-03:30 EDT
    ]
    ams = Schedule("Europe/Amsterdam", {6: (rng("02:30-03:30"),)})
    assert ams.next_open(at(AMS, 2026, 3, 29)) == utc(2026, 3, 29, 1, 0)


def test_range_wholly_inside_the_gap_is_skipped() -> None:
    s = Schedule("America/New_York", {6: (rng("02:15-02:45"),)})
    day = at(NY, 2026, 3, 8)
    assert s.business_time_between(day, day + timedelta(days=1)) == timedelta(0)
    assert not s.is_open(utc(2026, 3, 8, 7, 0))
    assert s.next_open(day) == at(NY, 2026, 3, 15, 2, 15)


def test_fall_back_overlap_is_not_double_counted() -> None:
    # 00:00-01:30 ends at the *second* 01:30, 01:30-03:00 starts at the *first* one.
    s = Schedule("America/New_York", {6: (rng("00:00-01:30"), rng("01:30-03:00"))})
    day = at(NY, 2026, 11, 1)
    assert list(s.open_intervals(day, day + timedelta(days=1))) == [
        (utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 8, 0))
    ]
    assert s.business_time_between(day, day + timedelta(days=1)) == 4 * HOUR
    # An ambiguous range inside the repeated hour covers both occurrences.
    repeated = Schedule("America/New_York", {6: (rng("01:15-01:45"),)})
    assert repeated.business_time_between(day, day + timedelta(days=1)) == timedelta(hours=1.5)


# --- degenerate schedules and limits ----------------------------------------------------------


def test_empty_schedule_never_opens() -> None:
    s = Schedule("Asia/Kathmandu", {})
    now = utc(2026, 1, 1)
    assert not s.is_open(now)
    assert s.next_open(now) is None
    assert s.next_close(now) is None
    assert s.add_business_time(now, HOUR) is None
    assert s.add_business_time(now, timedelta(0)) == now
    assert s.business_time_between(now, now + timedelta(days=400)) == timedelta(0)
    assert list(s.open_intervals(now, now + timedelta(days=400))) == []


def test_closed_longer_than_horizon_gives_up() -> None:
    start = date(2026, 1, 5)  # Monday
    mondays = frozenset(start + timedelta(weeks=n) for n in range(HORIZON_DAYS // 7 + 60))
    s = Schedule("UTC", {0: (rng("09:00-10:00"),)}, holidays=mondays)
    assert s.next_open(utc(2026, 1, 1)) is None  # bounded by the horizon, not a hang
    assert s.add_business_time(utc(2026, 1, 1), HOUR) is None
    shorter = Schedule("UTC", {0: (rng("09:00-10:00"),)}, holidays=frozenset(list(mondays)[:5]))
    assert shorter.next_open(utc(2026, 1, 1)) is not None


def test_exception_only_schedule_jumps_to_far_exception() -> None:
    s = Schedule("UTC", {}, exceptions={date(2034, 5, 5): (rng("10:00-11:00"),)})
    assert s.next_open(utc(2026, 1, 1)) == utc(2034, 5, 5, 10)
    assert s.add_business_time(utc(2026, 1, 1), HOUR) == utc(2034, 5, 5, 11)
    assert s.add_business_time(utc(2026, 1, 1), 2 * HOUR) is None


def test_always_open() -> None:
    s = Schedule.always_open("Europe/Amsterdam")
    now = utc(2026, 3, 29, 0, 30)
    assert s.is_open(now)
    assert s.next_open(now) == now
    assert s.next_close(now) is None  # never closes within the horizon
    assert s.business_time_between(now, now + timedelta(days=30)) == timedelta(days=30)
    assert s.add_business_time(now, timedelta(days=3650)) == now + timedelta(days=3650)
    intervals = list(s.open_intervals(now, now + timedelta(days=30)))
    assert intervals == [(now, now + timedelta(days=30))]


def test_months_of_business_time_across_dst() -> None:
    s = weekdays_schedule("America/New_York", "09:00-12:00,13:00-18:00")
    start = at(NY, 2026, 1, 5, 9)
    due = s.add_business_time(start, 1000 * HOUR)  # 125 business days, across spring DST
    assert due is not None
    assert s.business_time_between(start, due) == 1000 * HOUR
    assert s.business_time_between(start, start + timedelta(days=365)) == 8 * 261 * HOUR


# --- validation and serialisation -------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.is_open(datetime(2026, 1, 5, 10)),
        lambda s: s.next_open(datetime(2026, 1, 5, 10)),
        lambda s: s.next_close(datetime(2026, 1, 5, 10)),
        lambda s: s.open_intervals(datetime(2026, 1, 5), utc(2026, 1, 6)),  # eager, not lazy
        lambda s: s.business_time_between(utc(2026, 1, 5), datetime(2026, 1, 6)),
        lambda s: s.add_business_time(datetime(2026, 1, 5), HOUR),
        lambda s: s.add_business_time(utc(2026, 1, 5), -HOUR),
        lambda s: s.is_open("2026-01-05T10:00Z"),
    ],
)
def test_naive_or_bad_arguments_are_rejected(call: object) -> None:
    s = weekdays_schedule("UTC", "09:00-18:00")
    with pytest.raises(ScheduleError):
        call(s)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons", "weekly": {}}, "unknown time zone"),
        ({"timezone": "America", "weekly": {}}, "unknown time zone"),
        ({"timezone": "../etc/passwd", "weekly": {}}, "unknown time zone"),
        ({"timezone": "UTC", "weekly": {7: ()}}, "unknown weekday"),
        ({"timezone": "UTC", "weekly": {0: "09:00-10:00"}}, "list of time ranges"),
        ({"timezone": "UTC", "weekly": {0: (), "mon": ()}}, "duplicate weekday"),
        ({"timezone": "UTC", "weekly": {}, "holidays": {datetime(2026, 1, 1)}}, "expected a date"),
        ({"timezone": "UTC", "weekly": {}, "exceptions": {"2026-02-30": ()}}, "invalid date"),
    ],
)
def test_schedule_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule(**kwargs)  # type: ignore[arg-type]


EXAMPLE = {
    "timezone": "America/New_York",
    "weekly": {"mon": ["09:00-12:00", "13:00-18:00"], "fri": ["22:00-02:00"], "sun": []},
    "holidays": ["2026-12-25"],
    "exceptions": {"2026-12-24": ["09:00-13:00"], "2026-12-31": []},
}


def test_to_dict_and_from_dict() -> None:
    s = Schedule.from_dict(EXAMPLE)
    assert s.weekly[0] == (rng("09:00-12:00"), rng("13:00-18:00"))
    assert s.holidays == frozenset({date(2026, 12, 25)})
    assert s.exceptions[date(2026, 12, 31)] == ()
    assert s.to_dict() == EXAMPLE
    assert Schedule.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert hash(Schedule.from_dict(EXAMPLE)) == hash(s)
    assert Schedule.always_open().to_dict()["weekly"]["sun"] == ["00:00-24:00"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping"),
        ({"weekly": {}}, "missing 'timezone'"),
        ({"timezone": "UTC", "weeky": {}}, "unknown schedule keys"),
        ({"timezone": "UTC", "weekly": {"fun": []}}, "unknown weekday"),
        ({"timezone": "UTC", "weekly": []}, "expected a mapping"),
        ({"timezone": "UTC", "weekly": {"mon": ["9-5"]}}, "invalid time"),
        ({"timezone": "UTC", "holidays": "2026-12-25"}, "holidays"),
        ({"timezone": "UTC", "holidays": ["12/25/2026"]}, "invalid date"),
        ({"timezone": "Nowhere/Town"}, "unknown time zone"),
    ],
)
def test_from_dict_rejects_bad_input(data: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.from_dict(data)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/Amsterdam",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "UTC",
]
# Days with DST transitions in those zones (Sao_Paulo's happened at midnight until 2019).
TRANSITIONS = [
    date(2026, 3, 8),
    date(2026, 11, 1),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 4, 5),
    date(2026, 10, 4),
    date(2018, 11, 4),
    date(2019, 2, 16),
]
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,  # keep the tree clean: no .hypothesis directory
    suppress_health_check=[HealthCheck.too_slow],
)

times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59))
day_ranges = st.lists(st.builds(TimeRange, times, times), max_size=3).map(tuple)


@st.composite
def scenarios(draw: st.DrawFn, n: int = 3) -> tuple[Schedule, list[datetime]]:
    base = draw(st.sampled_from(TRANSITIONS) | st.dates(date(2015, 1, 1), date(2030, 12, 31)))
    near = st.integers(-7, 40).map(lambda k: base + timedelta(days=k))
    schedule = Schedule(
        draw(st.sampled_from(ZONES)),
        draw(st.dictionaries(st.integers(0, 6), day_ranges, max_size=7)),
        frozenset(draw(st.sets(near, max_size=4))),
        draw(st.dictionaries(near, day_ranges, max_size=4)),
    )
    origin = datetime.combine(base, time(), UTC)
    minutes = st.integers(-2 * 1440, 35 * 1440)
    return schedule, [origin + timedelta(minutes=draw(minutes)) for _ in range(n)]


def reference_utc(wall: datetime, tz: ZoneInfo, *, is_end: bool) -> datetime:
    """Independent, brute-force version of the documented DST rules."""
    candidates = {wall.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)}
    valid = [c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == wall]
    if valid:
        return max(valid) if is_end else min(valid)
    moment = min(candidates)  # in a gap: walk to the first instant whose wall time >= wall
    while moment.astimezone(tz).replace(tzinfo=None) < wall:
        moment += timedelta(minutes=1)
    return moment


def reference_intervals(s: Schedule, a: datetime, b: datetime) -> list[tuple[datetime, datetime]]:
    tz = ZoneInfo(s.timezone)
    raw = []
    day = a.astimezone(tz).date() - timedelta(days=3)
    while day <= b.astimezone(tz).date() + timedelta(days=1):
        if day in s.exceptions:
            ranges = s.exceptions[day]
        else:
            ranges = () if day in s.holidays else s.weekly.get(day.weekday(), ())
        for r in ranges:
            end_day = day if r.end > r.start else day + timedelta(days=1)
            start = reference_utc(datetime.combine(day, r.start), tz, is_end=False)
            end = reference_utc(datetime.combine(end_day, r.end), tz, is_end=True)
            if end > start:
                raw.append((start, end))
        day += timedelta(days=1)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(raw):
        start, end = max(start, a), min(end, b)
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def pairwise(items: list[tuple[datetime, datetime]]) -> Iterator[tuple[tuple, tuple]]:
    return zip(items, items[1:], strict=False)


@PROPERTY
@given(scenarios())
def test_business_time_is_additive(case: tuple[Schedule, list[datetime]]) -> None:
    s, instants = case
    a, b, c = sorted(instants)
    whole = s.business_time_between(a, c)
    assert whole == s.business_time_between(a, b) + s.business_time_between(b, c)
    assert timedelta(0) <= whole <= c - a


@PROPERTY
@given(scenarios(n=2))
def test_open_intervals_match_reference(case: tuple[Schedule, list[datetime]]) -> None:
    s, instants = case
    a, b = sorted(instants)
    intervals = list(s.open_intervals(a, b))
    assert intervals == reference_intervals(s, a, b)
    for start, end in intervals:
        assert a <= start < end <= b
        assert start.tzinfo is UTC and end.tzinfo is UTC
    for (_, end), (start, _) in pairwise(intervals):
        assert end < start  # sorted, disjoint and merged (touching intervals would be joined)
    total = sum((end - start for start, end in intervals), timedelta())
    assert total == s.business_time_between(a, b) <= max(b - a, timedelta(0))


@PROPERTY
@given(scenarios(n=2))
def test_add_business_time_inverts_business_time_between(
    case: tuple[Schedule, list[datetime]],
) -> None:
    s, instants = case
    start, end = sorted(instants)
    spent = s.business_time_between(start, end)
    due = s.add_business_time(start, spent)
    assert due is not None and start <= due <= end
    assert s.business_time_between(start, due) == spent


@PROPERTY
@given(scenarios(n=1), st.integers(0, 20 * 1440).map(lambda m: timedelta(minutes=m)))
def test_business_time_between_inverts_add_business_time(
    case: tuple[Schedule, list[datetime]], duration: timedelta
) -> None:
    s, (start,) = case
    due = s.add_business_time(start, duration)
    if due is None:
        # Only when the schedule really runs out of open time.
        far = start + timedelta(days=HORIZON_DAYS + 60)
        assert s.business_time_between(start, far) < duration
    else:
        assert due >= start and due.tzinfo is UTC
        assert s.business_time_between(start, due) == duration
        if duration:
            assert s.is_open(due - timedelta(microseconds=1))  # earliest: still open just before


@PROPERTY
@given(scenarios(n=1))
def test_is_open_next_open_next_close_agree(case: tuple[Schedule, list[datetime]]) -> None:
    s, (moment,) = case
    window = reference_intervals(s, moment - timedelta(days=2), moment + timedelta(days=2))
    assert s.is_open(moment) == any(start <= moment < end for start, end in window)
    nxt = s.next_open(moment)
    assert s.is_open(moment) == (nxt == moment)
    if nxt is not None:
        assert nxt >= moment and nxt.tzinfo is UTC
        assert s.is_open(nxt)
        assert s.business_time_between(moment, nxt) == timedelta(0)
    close = s.next_close(moment)
    if not s.is_open(moment):
        assert close is None
    elif close is not None:
        assert close > moment and not s.is_open(close)
        assert s.business_time_between(moment, close) == close - moment


@PROPERTY
@given(scenarios(n=1))
def test_dict_round_trip(case: tuple[Schedule, list[datetime]]) -> None:
    s, _ = case
    data = json.loads(json.dumps(s.to_dict()))
    assert data == s.to_dict()
    again = Schedule.from_dict(data)
    assert again == s and hash(again) == hash(s)
