"""Business hours: weekly opening schedules and business-time arithmetic (pure, no I/O).

Implements "Business hours" of the design: each service has a weekly schedule in its own IANA
time zone, plus holidays (closed that day) and exception dates (other hours that day). SLA timers
use :meth:`Schedule.add_business_time` and :meth:`Schedule.business_time_between`.

Rules and the choices made where the calendar is ambiguous:

* Every datetime passed in must be timezone-aware (:class:`ScheduleError` otherwise); every
  datetime returned is in UTC.
* A range belongs to the local date it *starts* on. ``22:00-02:00`` on a Friday is open
  Fri 22:00 -> Sat 02:00 local even if Saturday is a holiday. A holiday closes the ranges that
  start on that date; an exception date replaces that date's weekly ranges (``()`` = closed).
  A date that is both a holiday and an exception follows the exception (the more specific rule).
* DST: range bounds are local wall-clock times converted with :mod:`zoneinfo`. A wall time that
  does not exist (spring-forward gap) maps to the first valid instant after it, i.e. the end of
  the gap. An ambiguous wall time (fall-back) uses the first occurrence (``fold=0``) for starts
  and the second (``fold=1``) for ends, so a range spanning the repeated hour gets all of it.
  A range whose converted end is not after its converted start (e.g. wholly inside a gap) is
  skipped. Overlapping or touching intervals are merged, so no time is ever counted twice.
* Look-ahead is bounded: after :data:`HORIZON_DAYS` without any open time, the searching methods
  give up (``None``), so a schedule that is closed forever cannot loop forever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["HORIZON_DAYS", "Schedule", "ScheduleError", "TimeRange", "weekdays_schedule"]

HORIZON_DAYS = 3 * 366
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time(0, 0)
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
Interval = tuple[datetime, datetime]


class ScheduleError(ValueError):
    """Invalid schedule data or invalid argument to a schedule method."""


def _parse_time(text: str, *, is_end: bool) -> time:
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise ScheduleError(f"invalid time {text!r}: expected HH:MM")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if is_end and (hour, minute, second) == (24, 0, 0):
        return _MIDNIGHT  # "24:00" is only meaningful as an end; stored as 00:00 of the next day
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleError(f"invalid time {text!r}: out of range")
    return time(hour, minute, second)


def _format_time(value: time, *, is_end: bool) -> str:
    if is_end and value == _MIDNIGHT:
        return "24:00"
    return value.isoformat("seconds" if value.second else "minutes")


@dataclass(frozen=True)
class TimeRange:
    """Local wall-clock range. ``end <= start`` runs past midnight; ``end == 00:00`` is 24:00."""

    start: time
    end: time

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            # Microseconds and tz-aware times could not round-trip through "HH:MM[:SS]".
            if not isinstance(value, time) or value.tzinfo is not None or value.microsecond:
                raise ScheduleError(f"range bounds must be naive whole-second times, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """Parse ``"09:00-12:30"``, ``"22:00-02:00"`` or ``"00:00-24:00"``."""
        if not isinstance(text, str) or text.count("-") != 1:
            raise ScheduleError(f"invalid time range {text!r}: expected HH:MM-HH:MM")
        start, end = text.split("-")
        return cls(_parse_time(start, is_end=False), _parse_time(end, is_end=True))

    def __str__(self) -> str:
        return f"{_format_time(self.start, is_end=False)}-{_format_time(self.end, is_end=True)}"


def _aware_utc(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ScheduleError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _weekday(value: Any) -> int:
    if isinstance(value, str) and value.lower() in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(value.lower())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise ScheduleError(f"unknown weekday {value!r}: expected 0-6 (Monday=0) or mon..sun")
    return value


def _date(value: Any, where: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ScheduleError(f"{where}: invalid date {value!r}, expected YYYY-MM-DD") from None
    # datetime is a date subclass, but a datetime key would never match a local date lookup.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ScheduleError(f"{where}: expected a date, got {value!r}")
    return value


def _ranges(value: Any, where: str) -> tuple[TimeRange, ...]:
    # A bare string is iterable too; reject it rather than parsing it character by character.
    if isinstance(value, str | TimeRange) or not isinstance(value, Iterable):
        raise ScheduleError(f"{where}: expected a list of time ranges, got {value!r}")
    return tuple(r if isinstance(r, TimeRange) else TimeRange.parse(r) for r in value)


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ScheduleError(f"{where}: expected a mapping, got {value!r}")
    return value


def _to_utc(wall: datetime, tz: ZoneInfo, *, is_end: bool) -> datetime:
    """Convert a naive local wall time to UTC following the DST rules in the module docstring."""
    utc = wall.replace(tzinfo=tz, fold=int(is_end)).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc
    # The wall time is in a spring-forward gap: fold=1 lands before the transition and fold=0
    # after it. Bisect whole seconds for the transition itself, the first instant at/after `wall`.
    lo = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    hi = int(wall.replace(tzinfo=tz, fold=0).timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@dataclass(frozen=True)
class Schedule:
    """A weekly schedule (0 = Monday ... 6 = Sunday; missing day = closed) in an IANA zone.

    The constructor also accepts "mon".."sun" keys, ISO date strings and "HH:MM-HH:MM" strings
    and normalises them (mappings sorted). Treat the fields as read-only: they stay plain dicts
    so the object still pickles and deep-copies.
    """

    timezone: str
    weekly: Mapping[int, tuple[TimeRange, ...]]
    holidays: frozenset[date] = frozenset()
    exceptions: Mapping[date, tuple[TimeRange, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
            raise ScheduleError(f"unknown time zone {self.timezone!r}") from None
        raw_weekly = _mapping(self.weekly, "weekly")
        weekly = {_weekday(k): _ranges(v, f"weekly[{k!r}]") for k, v in raw_weekly.items()}
        if len(weekly) != len(raw_weekly):
            raise ScheduleError(f"weekly: duplicate weekday in {list(raw_weekly)!r}")
        if isinstance(self.holidays, str) or not isinstance(self.holidays, Iterable):
            raise ScheduleError(f"holidays: expected a set of dates, got {self.holidays!r}")
        holidays = frozenset(_date(d, "holidays") for d in self.holidays)
        exceptions = {
            _date(k, "exceptions"): _ranges(v, f"exceptions[{k!s}]")
            for k, v in _mapping(self.exceptions, "exceptions").items()
        }
        # Frozen dataclass: install the normalised copies directly.
        object.__setattr__(self, "weekly", dict(sorted(weekly.items())))
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "exceptions", dict(sorted(exceptions.items())))

    def __hash__(self) -> int:
        # The generated hash would fail on the dict fields; they are sorted, so items() is stable.
        items = (tuple(self.weekly.items()), tuple(self.exceptions.items()))
        return hash((self.timezone, self.holidays, items))

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> Schedule:
        return cls(timezone, {day: (TimeRange(_MIDNIGHT, _MIDNIGHT),) for day in range(7)})

    def is_open(self, at: datetime) -> bool:
        at = _aware_utc(at, "at")
        # Pieces are clipped to start at `at`, so the first one starts exactly at `at` iff open.
        last_day = at.astimezone(ZoneInfo(self.timezone)).date() + 2 * _ONE_DAY
        return any(start == at for start, _ in self._pieces(at, last_day))

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` itself if open now, else the next opening; ``None`` if it never opens again."""
        return next((start for start, _ in self._pieces(_aware_utc(at, "at"))), None)

    def next_close(self, at: datetime) -> datetime | None:
        """End of the open interval containing ``at``.

        ``None`` if closed at ``at``, and also if the schedule stays open for more than
        :data:`HORIZON_DAYS` (e.g. :meth:`always_open`), which has no meaningful closing time.
        """
        at = _aware_utc(at, "at")
        close: datetime | None = None
        for start, end in self._pieces(at):
            if start != (at if close is None else close):
                break  # closed at `at`, or a gap after the current interval
            if end - at > timedelta(days=HORIZON_DAYS):
                return None
            close = end
        return close

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[Interval]:
        """Merged, sorted, non-empty UTC intervals of open time clipped to ``[start, end)``."""
        # Validate eagerly; a generator body would only raise on the first next().
        start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
        return self._merged(start, end)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        return sum((e - s for s, e in self.open_intervals(start, end)), timedelta())

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime | None:
        """Earliest ``t`` with ``business_time_between(start, t) == duration``.

        ``None`` if the schedule runs out of open time (closed forever / beyond the horizon).
        """
        start = _aware_utc(start, "start")
        if not isinstance(duration, timedelta) or duration < timedelta():
            raise ScheduleError(f"duration must be a non-negative timedelta, got {duration!r}")
        if not duration:
            return start
        remaining = duration
        for s, e in self._pieces(start):
            if e - s >= remaining:
                return s + remaining
            remaining -= e - s
        return None

    def _ranges_on(self, day: date) -> tuple[TimeRange, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return ()
        return self.weekly.get(day.weekday(), ())

    def _day_intervals(self, day: date, tz: ZoneInfo) -> Iterator[Interval]:
        """UTC intervals of ranges starting on local ``day``, in order of start."""
        for rng in sorted(self._ranges_on(day), key=lambda r: r.start):
            end_day = day if rng.end > rng.start else day + _ONE_DAY
            start = _to_utc(datetime.combine(day, rng.start), tz, is_end=False)
            end = _to_utc(datetime.combine(end_day, rng.end), tz, is_end=True)
            if end > start:
                yield start, end

    def _pieces(self, after: datetime, last_day: date | None = None) -> Iterator[Interval]:
        """Open time from ``after`` (UTC) on as sorted, disjoint (possibly touching) pieces.

        Starts converted with fold=0 never decrease as wall time increases, so walking local
        dates in order yields intervals sorted by start; a running "covered until" cursor then
        removes overlaps without waiting for an interval to close (always-open never closes).
        """
        tz = ZoneInfo(self.timezone)
        today = after.astimezone(tz).date()
        # Ranges starting up to two local days earlier can still be running (a range lasts up to
        # 24 h, plus DST slack), so start there.
        first = today - 2 * _ONE_DAY
        by_week = any(self.weekly.values())
        if by_week:
            days: Iterator[date] = (first + timedelta(days=n) for n in count())
        else:  # Only exception dates can open; jump straight to them (finite, no horizon needed).
            days = iter(sorted(d for d, ranges in self.exceptions.items() if ranges and d >= first))
        cursor, productive = after, today
        for day in days:
            if last_day is not None and day > last_day:
                return
            if by_week and (day - productive).days > HORIZON_DAYS:
                return
            for start, end in self._day_intervals(day, tz):
                start = max(start, cursor)
                if end > start:
                    yield start, end
                    cursor, productive = end, day

    def _merged(self, start: datetime, end: datetime) -> Iterator[Interval]:
        if end <= start:
            return
        last_day = end.astimezone(ZoneInfo(self.timezone)).date() + 2 * _ONE_DAY
        current: Interval | None = None
        for s, e in self._pieces(start, last_day):
            if s >= end:
                break
            e = min(e, end)
            if current is not None and s == current[1]:
                current = (current[0], e)  # touching pieces, e.g. 22:00-24:00 then 00:00-02:00
                continue
            if current is not None:
                yield current
            current = (s, e)
        if current is not None:
            yield current

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, e.g. ``{"timezone": ..., "weekly": {"mon": ["09:00-18:00"]}, ...}``."""

        def texts(ranges: tuple[TimeRange, ...]) -> list[str]:
            return [str(r) for r in ranges]

        return {
            "timezone": self.timezone,
            "weekly": {WEEKDAY_NAMES[d]: texts(rs) for d, rs in self.weekly.items()},
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
            "exceptions": {d.isoformat(): texts(rs) for d, rs in self.exceptions.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Inverse of :meth:`to_dict`; raises :class:`ScheduleError` on bad input."""
        data = _mapping(data, "schedule")
        unknown = set(data) - {"timezone", "weekly", "holidays", "exceptions"}
        if unknown:
            raise ScheduleError(f"unknown schedule keys: {sorted(map(str, unknown))}")
        if "timezone" not in data:
            raise ScheduleError("schedule is missing 'timezone'")
        # The constructor already parses weekday names, ISO dates and "HH:MM-HH:MM" strings.
        return cls(
            data["timezone"],
            data.get("weekly", {}),
            data.get("holidays", ()),
            data.get("exceptions", {}),
        )


def weekdays_schedule(
    timezone: str, ranges: str | Iterable[str], days: Iterable[int] = range(5)
) -> Schedule:
    """Convenience: the same ranges on each of ``days`` (default Mon-Fri).

    ``ranges`` is one range, a comma-separated string (``"09:00-12:00,13:00-18:00"``) or a list.
    """
    texts = ranges.split(",") if isinstance(ranges, str) else list(ranges)
    parsed = tuple(TimeRange.parse(text) for text in texts)
    return Schedule(timezone, {_weekday(day): parsed for day in days})
