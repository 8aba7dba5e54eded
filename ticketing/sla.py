"""SLA clocks in business hours (DESIGN.md, "Ticket lifecycle"; the Modera process, seed 003).

Each priority has a *pickup* and a *resolution* target in business hours of the ticket's service,
or none ("best effort"). The pickup clock runs from creation until the ticket is picked up (first
assignment). The resolution clock runs from pickup until the ticket is resolved, paused while it
is pending on the customer ("resolution time tracking stops as we cannot proceed without your
input") and running again if the ticket is reopened. Pure: no I/O, no "now" of its own.

Rules, where the seeds leave room:

* Status history is a list of ``(at, status)`` changes, ordered by their UTC instant (changes at
  the same instant apply in the order given); before the first one the ticket is ``new``.
  Changes after ``now`` are not known yet and are ignored, so a state can be computed "as of"
  any instant. Resolution time counts while the status is ``new`` or ``open``.
* A ticket resolved or closed without ever being picked up stops its pickup clock then.
* A clock is *breached* once it runs past its due instant (``due_at``), the earliest instant its
  business time reaches the target. So a ticket due Friday 18:00 is breached on Saturday, although
  no business time passed since; one picked up exactly at ``due_at`` is on time.
* ``remaining = target - elapsed``, negative once overdue (by how much). Only a running clock
  (started, not paused, not stopped) warns; a paused or stopped one cannot get worse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ticketing.business_hours import Schedule, ScheduleError
from ticketing.models import Priority, TicketStatus

__all__ = [
    "DEFAULT_TARGETS",
    "SlaClock",
    "SlaConfigError",
    "SlaState",
    "SlaTargets",
    "StatusSpan",
    "sla_state",
    "status_spans",
]

_COUNTING = frozenset({TicketStatus.NEW, TicketStatus.OPEN})  # the resolution clock runs
_DONE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
_HOUR = 3600
# An admin typing 40000 for 40 h should hear about it; a year of 9-to-5 is ~2,000 business hours.
MAX_TARGET_HOURS = 10_000
Targets = Mapping[Priority, timedelta | None]


class SlaConfigError(ValueError):
    """Invalid SLA targets (e.g. from an admin's form or a stored JSON)."""


def _target(value: Any, where: str) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, timedelta) or value.microseconds:
        raise SlaConfigError(f"{where}: expected a whole-second duration or None, got {value!r}")
    if not timedelta() < value <= timedelta(hours=MAX_TARGET_HOURS):
        raise SlaConfigError(f"{where}: must be more than 0 and at most {MAX_TARGET_HOURS} hours")
    return value


def _targets(value: Any, where: str) -> dict[Priority, timedelta | None]:
    if not isinstance(value, Mapping):
        raise SlaConfigError(f"{where}: expected a mapping of priority to target")
    names = sorted(map(str, value))
    if names != [p.value for p in Priority]:
        raise SlaConfigError(f"{where}: expected one target (or None) per P1-P5, got {names}")
    return {p: _target(value[p], f"{where}[{p}]") for p in Priority}


def _hours(value: Any, where: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SlaConfigError(f"{where}: expected a number of hours or null, got {value!r}")
    # Whole seconds, so it round-trips; clamped so a huge number cannot overflow before
    # `_target` rejects it.
    return timedelta(seconds=round(min(value, MAX_TARGET_HOURS + 1) * _HOUR))


@dataclass(frozen=True)
class SlaTargets:
    """Pickup and resolution targets in business time per priority (``None`` = best effort)."""

    pickup: Targets
    resolution: Targets

    def __post_init__(self) -> None:
        object.__setattr__(self, "pickup", _targets(self.pickup, "pickup"))
        object.__setattr__(self, "resolution", _targets(self.resolution, "resolution"))

    def __hash__(self) -> int:
        return hash((tuple(self.pickup.items()), tuple(self.resolution.items())))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``{"pickup_hours": {"P1": 4, ..., "P5": null}, "resolution_hours": ...}``."""

        def hours(targets: Targets) -> dict[str, int | float | None]:
            return {
                p.value: None if t is None else _number(t.total_seconds() / _HOUR)
                for p, t in targets.items()
            }

        return {"pickup_hours": hours(self.pickup), "resolution_hours": hours(self.resolution)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaTargets:
        """Inverse of :meth:`to_dict`; raises :class:`SlaConfigError` on bad input."""
        if not isinstance(data, Mapping) or set(data) != {"pickup_hours", "resolution_hours"}:
            raise SlaConfigError("SLA targets need exactly 'pickup_hours' and 'resolution_hours'")
        parsed = {}
        for key in ("pickup_hours", "resolution_hours"):
            hours = data[key]
            if not isinstance(hours, Mapping):
                raise SlaConfigError(f"{key}: expected a mapping of priority to hours")
            parsed[key] = _targets({p: _hours(v, f"{key}[{p}]") for p, v in hours.items()}, key)
        return cls(parsed["pickup_hours"], parsed["resolution_hours"])


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


# Modera's table (seed 003), "during business hours"; P4 improvements and P5 are best effort.
DEFAULT_TARGETS = SlaTargets.from_dict(
    {
        "pickup_hours": {"P1": 4, "P2": 8, "P3": 16, "P4": 40, "P5": None},
        "resolution_hours": {"P1": 8, "P2": 16, "P3": 80, "P4": None, "P5": None},
    }
)


@dataclass(frozen=True)
class StatusSpan:
    status: TicketStatus
    start: datetime
    end: datetime | None  # None: still in this status


@dataclass(frozen=True)
class SlaClock:
    target: timedelta | None  # None: best effort, never due, never breached
    elapsed: timedelta  # business time counted so far
    remaining: timedelta | None  # target - elapsed (negative once overdue); None: best effort
    due_at: datetime | None  # see `sla_state`
    breached: bool
    warning: bool  # running, not breached, remaining <= warn_before
    started: bool
    paused: bool
    stopped: bool

    @property
    def running(self) -> bool:
        return self.started and not self.paused and not self.stopped


@dataclass(frozen=True)
class SlaState:
    pickup: SlaClock
    resolution: SlaClock


def _utc(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ScheduleError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def status_spans(
    created_at: datetime, history: Sequence[tuple[datetime, TicketStatus]], now: datetime
) -> list[StatusSpan]:
    """The ticket's statuses from creation to ``now``, oldest first, without empty spans."""
    created_at, now = _utc(created_at, "created_at"), _utc(now, "now")
    changes = sorted(
        ((_utc(at, "history time"), TicketStatus(status)) for at, status in history),
        key=lambda change: change[0],
    )
    spans: list[StatusSpan] = []
    status, since = TicketStatus.NEW, created_at
    for at, new_status in changes:
        if at > now:
            break
        if at > since:
            spans.append(StatusSpan(status, since, at))
            since = at
        status = new_status
    spans.append(StatusSpan(status, since, None))
    return spans


def _clock(
    schedule: Schedule,
    target: timedelta | None,
    runs: list[tuple[datetime, datetime]],
    *,
    now: datetime,
    started: bool,
    paused: bool,
    stopped: bool,
    warn_before: timedelta,
) -> SlaClock:
    parts = [schedule.business_time_between(s, e) for s, e in runs]
    elapsed = sum(parts, timedelta())
    running = started and not paused and not stopped
    if target is None:
        return SlaClock(None, elapsed, None, None, False, False, started, paused, stopped)
    remaining, breached = target - elapsed, False
    due_at: datetime | None = None
    if remaining <= timedelta():  # reached already: find the instant, in the run that got there
        counted = timedelta()
        for (start, _), part in zip(runs, parts, strict=True):
            if counted + part >= target:
                due_at = schedule.add_business_time(start, target - counted)
                break
            counted += part
        breached = due_at is not None and due_at < runs[-1][1]  # it ran on past its due instant
    elif running:
        due_at = schedule.add_business_time(now, remaining)  # None: the schedule never reopens
    warning = running and not breached and remaining <= warn_before
    return SlaClock(target, elapsed, remaining, due_at, breached, warning, started, paused, stopped)


def sla_state(
    *,
    schedule: Schedule,
    targets: SlaTargets,
    priority: Priority,
    created_at: datetime,
    picked_up_at: datetime | None,
    history: Sequence[tuple[datetime, TicketStatus]],
    now: datetime,
    warn_before: timedelta = timedelta(hours=1),
) -> SlaState:
    """Both SLA clocks of one ticket as of ``now``, in ``schedule``'s business time.

    ``due_at`` is the instant the clock reaches its target: in the past if it already has (the
    breach instant, or the moment a clock stopped/paused exactly on target); otherwise, while
    running, when it will if it keeps running from ``now``; ``None`` if best effort, or not
    reached and not running (not started, paused, stopped).
    """
    spans = status_spans(created_at, history, now)
    now, priority = _utc(now, "now"), Priority(priority)
    created_at = spans[0].start
    current = spans[-1].status

    picked = None if picked_up_at is None else _utc(picked_up_at, "picked_up_at")
    if picked is not None and picked > now:
        picked = None  # not known yet as of `now`
    done_at = next((s.start for s in spans if s.status in _DONE), None)
    pickup_end = min((t for t in (picked, done_at) if t is not None), default=None)
    pickup_runs = [(created_at, pickup_end or now)] if (pickup_end or now) > created_at else []
    pickup = _clock(
        schedule,
        targets.pickup[priority],
        pickup_runs,
        now=now,
        started=now >= created_at,
        paused=False,
        stopped=pickup_end is not None,
        warn_before=warn_before,
    )

    runs = []
    if picked is not None:
        for span in spans:
            start, stop = max(span.start, picked), span.end or now
            if span.status in _COUNTING and stop > start:
                runs.append((start, stop))
    resolution = _clock(
        schedule,
        targets.resolution[priority],
        runs,
        now=now,
        started=picked is not None,
        paused=picked is not None and current is TicketStatus.PENDING,
        stopped=current in _DONE,
        warn_before=warn_before,
    )
    return SlaState(pickup, resolution)
