"""Domain events: what happened to a ticket or chat, told to listeners inside its transaction.

The service layer emits an event as part of the change itself; listeners (email
notifications, webhooks) write their outbox rows in the same transaction, so a
change and the news of it are stored together or not at all (DESIGN.md: a durable
outbox processed by the worker). Listeners must not do I/O beyond the session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# The event types, as webhooks name them.
CHAT_STARTED = "chat.started"
CHAT_ENDED = "chat.ended"
TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"  # fields, assignment, a public reply or an internal note
TICKET_STATUS_CHANGED = "ticket.status_changed"
TICKET_REMINDER = "ticket.reminder"
SURVEY_ANSWERED = "survey.answered"
ALL_TYPES = (
    CHAT_STARTED,
    CHAT_ENDED,
    TICKET_CREATED,
    TICKET_UPDATED,
    TICKET_STATUS_CHANGED,
    TICKET_REMINDER,
    SURVEY_ANSWERED,
)


@dataclass(frozen=True)
class DomainEvent:
    type: str
    at: dt.datetime
    ticket_id: int | None = None
    chat_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[AsyncSession, DomainEvent], Awaitable[None]]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Listener:
    """Register a listener (once); usable as a decorator."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def forget(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


async def emit(session: AsyncSession, event: DomainEvent) -> None:
    for listener in list(_listeners):
        await listener(session, event)
