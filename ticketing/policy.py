"""When a quiet ticket is reminded or closed: the inactivity rules of the seeds, pure.

Tecnospeed (seeds/002): a ticket waiting on the customer with no answer for 3 days
is closed for inactivity. Modera (seeds/003): after 30 days two reminders go out,
2 business days apart, and then the ticket is closed as *Inactive*. Both are one
`InactivityPolicy` (wait, then N reminders an interval apart, then close);
Tecnospeed's is the default, either is configurable per service. A resolved
ticket the customer neither confirms nor reopens is closed after `resolved_close_days`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ticketing.business_hours import Schedule
from ticketing.models import TicketStatus

# A schedule with no open day in this many days has no "next business day".
_BUSINESS_DAY_HORIZON = 3 * 366


class PolicyError(ValueError):
    pass


class InactivityAction(StrEnum):
    REMIND = "remind"
    CLOSE_INACTIVE = "close_inactive"  # pending, no answer after the reminders
    CLOSE_UNCONFIRMED = "close_unconfirmed"  # resolved, neither confirmed nor reopened


@dataclass(frozen=True)
class InactivityPolicy:
    wait_days: int = 3  # calendar days waiting on the customer before the first step
    reminders: int = 0  # reminders before closing
    reminder_interval_business_days: int = 2  # between reminders, and before closing
    resolved_close_days: int = 7  # a resolved ticket left unconfirmed this long is closed

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3650:
                raise PolicyError(f"'{name}' must be a whole number of days from 0 to 3650.")
        if self.reminders > 10:
            raise PolicyError("At most 10 reminders.")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> InactivityPolicy:
        if data is None:
            return DEFAULT_POLICY
        if not isinstance(data, Mapping):
            raise PolicyError("The inactivity policy must be an object.")
        unknown = set(data) - set(asdict(DEFAULT_POLICY))
        if unknown:
            raise PolicyError(f"Unknown inactivity settings: {', '.join(sorted(unknown))}.")
        return cls(**{**asdict(DEFAULT_POLICY), **data})


TECNOSPEED = InactivityPolicy(wait_days=3, reminders=0)
MODERA = InactivityPolicy(wait_days=30, reminders=2, reminder_interval_business_days=2)
DEFAULT_POLICY = TECNOSPEED


@dataclass(frozen=True)
class DueAction:
    action: InactivityAction
    at: dt.datetime


def add_business_days(schedule: Schedule, start: dt.datetime, days: int) -> dt.datetime:
    """The same local time of day on the `days`-th next day the desk is open at all.

    A business day is a local date with some open time (holidays and closed
    exceptions don't count). Without such days ahead, plain calendar days are used,
    so a ticket is never stuck forever.
    """
    zone = ZoneInfo(schedule.timezone)
    local = start.astimezone(zone)
    day, counted, looked = local.date(), 0, 0
    while counted < days:
        day += dt.timedelta(days=1)
        looked += 1
        if looked > _BUSINESS_DAY_HORIZON:
            return start + dt.timedelta(days=days)
        day_start = dt.datetime.combine(day, dt.time(0), zone)
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
        if schedule.business_time_between(day_start, day_end) > dt.timedelta(0):
            counted += 1
    wall = dt.datetime.combine(day, local.time().replace(tzinfo=None))
    return wall.replace(tzinfo=zone).astimezone(dt.UTC)


def next_action(
    policy: InactivityPolicy,
    schedule: Schedule,
    status: TicketStatus,
    status_changed_at: dt.datetime,
    reminders_sent: int,
    last_reminder_at: dt.datetime | None,
) -> DueAction | None:
    """What the worker should do next to a quiet ticket, and from when on."""
    if status is TicketStatus.RESOLVED:
        return DueAction(
            InactivityAction.CLOSE_UNCONFIRMED,
            status_changed_at + dt.timedelta(days=policy.resolved_close_days),
        )
    if status is not TicketStatus.PENDING:
        return None
    first_step = status_changed_at + dt.timedelta(days=policy.wait_days)
    if reminders_sent <= 0 or last_reminder_at is None:
        action = (
            InactivityAction.REMIND if policy.reminders > 0 else InactivityAction.CLOSE_INACTIVE
        )
        return DueAction(action, first_step)
    after_last = add_business_days(
        schedule, last_reminder_at, policy.reminder_interval_business_days
    )
    if reminders_sent < policy.reminders:
        return DueAction(InactivityAction.REMIND, after_last)
    return DueAction(InactivityAction.CLOSE_INACTIVE, after_last)
