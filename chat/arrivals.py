"""Chat arrivals, grouped: the new chats asked for at one moment share one transaction.

A new chat checks its service (open, staffed, its form's rules), locks its customer,
makes sure they have no open chat yet, stores the chat with its first line and tells
the webhooks: all of it or none of it (DESIGN.md principle 3). Arrivals come in rushes
— a campaign e-mail, an outage, the desk opening in the morning — and on PostgreSQL
every statement is a round trip; one chat at a time, building and running those
statements was a fifth of the server's CPU at 100 arrivals a second. So, as endings do
(chat/endings.py), the arrivals that come while one transaction runs are started
together in the next, with the same statements for one chat or a hundred.

An arrival that cannot start (no such service, nobody available, a required field
missing, no such customer, a chat already open) gets its own error and leaves the
others alone. A database error fails the group; each arrival is then retried alone,
so a bad one fails only itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat import desk
from chat.errors import (
    ChatAlreadyOpen,
    ChatError,
    ChatNotFound,
    DeskUnavailable,
    ServiceNotFound,
)
from chat.grouped import Grouped, Outcome, answered
from chat.models import Chat, ChatMessage
from chat.states import OPEN_STATES, ChatState, SurveyState
from chat.transcripts import StoredMessage, message_frame
from ticketing import events
from ticketing.db import iso, transaction
from ticketing.models import Customer

if TYPE_CHECKING:
    from chat.desk import ServiceStatus
    from chat.lifecycle import ChatService

log = logging.getLogger("chat.arrivals")

# Arrivals per transaction: a rush larger than this is several transactions in a row.
MAX_GROUP = 100

_CHATS = Chat.__table__
# The new chats' ids, with their customers' to match them up: a customer starts at most
# one chat per group, so no reliance on RETURNING's row order (one multi-row INSERT).
_INSERT_CHATS = insert(_CHATS).returning(_CHATS.c.id, _CHATS.c.customer_id)
# Built once with bound parameters: building costs about as much as running (chat/desk.py).
_LOCK_CUSTOMERS = (
    select(Customer)
    .where(Customer.id.in_(bindparam("ids", expanding=True)))
    .order_by(Customer.id)
    .with_for_update()
    .execution_options(populate_existing=True)
)
_OPEN_CHATS_OF = select(_CHATS.c.customer_id).where(
    _CHATS.c.customer_id.in_(bindparam("ids", expanding=True)), _CHATS.c.state.in_(OPEN_STATES)
)
_INSERT_FIRST_LINES = insert(ChatMessage.__table__)


@dataclass(frozen=True)
class Arrival:
    """One request to start a chat, as the widget's form sent it."""

    customer_id: int
    service_id: int
    name: str | None
    email: str | None
    subject: str | None
    message: str


class Arrivals(Grouped[Arrival]):
    """Queues arrivals and starts them in groups; `start` answers each with its snapshot."""

    noun = "arrivals"

    def __init__(self, service: ChatService) -> None:
        super().__init__(MAX_GROUP)
        self._service = service

    async def start(self, arrival: Arrival) -> dict[str, Any]:
        return await self.submit(arrival)

    async def together(self, arrivals: Sequence[Arrival]) -> list[Outcome]:
        """One transaction for every arrival given; publishes after it commits."""
        service = self._service
        now = service.clock.now()
        outcomes: list[Outcome | None] = [None] * len(arrivals)
        outbox = service.new_outbox(route=True)  # a new chat waits for an agent: route
        async with transaction(service.sessions) as session:
            wanted = {a.service_id for a in arrivals}
            # One service (always so for a lone arrival): just its status, as ever.
            only = next(iter(wanted)) if len(wanted) == 1 else None
            statuses = {s.id: s for s in await desk.service_statuses(session, now, only)}
            forms: dict[int, _Form] = {}  # arrival index → what its chat keeps
            for index, arrival in enumerate(arrivals):
                try:
                    forms[index] = _Form.of(arrival, statuses.get(arrival.service_id))
                except ChatError as error:
                    outcomes[index] = error
            if not forms:
                return answered(outcomes)
            customers = await _lock(session, {arrivals[i].customer_id for i in forms})
            busy = await _with_open_chat(session, list(customers))
            taken: dict[int, int] = {}  # customer id → index of the arrival that starts
            for index in forms:
                customer_id = arrivals[index].customer_id
                if customer_id not in customers:
                    outcomes[index] = ChatNotFound()
                elif customer_id in busy or customer_id in taken:
                    outcomes[index] = ChatAlreadyOpen()  # the first arrival stands
                else:
                    taken[customer_id] = index
            if not taken:
                return answered(outcomes)
            rows: dict[int, dict[str, Any]] = {}  # customer id → the new chat's columns
            for customer_id, index in taken.items():
                form, customer = forms[index], customers[customer_id]
                name = form.name or customer.name  # an optional name left out: keep the known
                customer.name = name
                if form.email:
                    customer.email = form.email
                rows[customer_id] = _chat_row(arrivals[index], form, name, now)
            # (Autoflush sends the customers' changes first: an executemany per set of
            # changed columns.) Then every chat in one multi-row INSERT … RETURNING.
            inserted = await session.execute(_INSERT_CHATS, list(rows.values()))
            ids = {customer_id: chat_id for chat_id, customer_id in inserted}
            # The first lines of chats nobody else can see yet: seq 1 (`last_seq=1` above),
            # written directly rather than through append_messages, whose counter UPDATE
            # and the read back it would need are round trips a new chat does not need.
            firsts = {
                customer_id: _first_line(ids[customer_id], arrivals[index], rows, now)
                for customer_id, index in taken.items()
            }
            # Rows as append_messages inserts them (i18n None: stored as JSON null).
            await session.execute(
                _INSERT_FIRST_LINES, [dataclasses.asdict(m) for m in firsts.values()]
            )
            for customer_id, index in taken.items():
                row = rows[customer_id]
                chat_id, first = ids[customer_id], firsts[customer_id]
                # Nobody has seen the chat yet: it has no agent, and its first customer
                # line is the one just written, so the snapshot needs no read.
                outcomes[index] = _snapshot(chat_id, row, first.body)
                await events.emit(
                    session,
                    events.DomainEvent(
                        events.CHAT_STARTED,
                        now,
                        None,
                        chat_id,
                        {
                            "service_id": row["service_id"],
                            "customer_id": customer_id,
                            "subject": row["subject"],
                        },
                    ),
                )
                outbox.add(f"chat:{chat_id}", message_frame(first))
        service.publish(outbox)
        return answered(outcomes)


@dataclass(frozen=True)
class _Form:
    """An arrival's form after its service's rules (chat/prechat.py): hidden fields gone."""

    name: str | None
    email: str | None
    subject: str

    @classmethod
    def of(cls, arrival: Arrival, status: ServiceStatus | None) -> _Form:
        """Raises what a lone start_chat always raised, in the same order."""
        if status is None:
            raise ServiceNotFound()
        if not status.available:
            raise DeskUnavailable(next_open=iso(status.next_open))
        form = status.prechat.apply(
            {"name": arrival.name, "email": arrival.email, "subject": arrival.subject}
        )
        return cls(form["name"], form["email"], form["subject"] or "")


async def _lock(session: AsyncSession, customer_ids: set[int]) -> dict[int, Customer]:
    """The customers, locked in id order on PostgreSQL (a fixed order, so two groups
    sharing customers cannot deadlock); ORM rows, so the webhook listener's
    `session.get(Customer, …)` finds them without a query."""
    rows = await session.scalars(_LOCK_CUSTOMERS, {"ids": sorted(customer_ids)})
    return {customer.id: customer for customer in rows}


async def _with_open_chat(session: AsyncSession, customer_ids: list[int]) -> set[int]:
    """Which of the customers already have an open chat. A statement of its own, after
    the lock: on PostgreSQL it then sees the chat another transaction holding the lock
    has just committed (one statement that locked and looked would not)."""
    if not customer_ids:
        return set()
    rows = await session.scalars(_OPEN_CHATS_OF, {"ids": customer_ids})
    return set(rows)


def _chat_row(arrival: Arrival, form: _Form, name: str, now: dt.datetime) -> dict[str, Any]:
    """A new chat's columns, all of them that its snapshot shows (no read back)."""
    return {
        "customer_id": arrival.customer_id,
        "service_id": arrival.service_id,
        "subject": form.subject,
        "customer_name": name,
        "customer_email": form.email,
        "state": ChatState.WAITING,
        "queued_at": now,
        "created_at": now,
        "last_customer_activity_at": now,
        "declined_agent_ids": [],
        "last_seq": 1,
        "survey": SurveyState.NONE,
        "customer_delivered_seq": 0,
        "customer_read_seq": 0,
        "agent_delivered_seq": 0,
        "agent_read_seq": 0,
    }


def _first_line(
    chat_id: int, arrival: Arrival, rows: dict[int, dict[str, Any]], now: dt.datetime
) -> StoredMessage:
    return StoredMessage(
        chat_id=chat_id,
        seq=1,
        sender="customer",
        sender_id=arrival.customer_id,
        author_name=rows[arrival.customer_id]["customer_name"],
        body=arrival.message,
        client_id=None,
        i18n=None,
        created_at=now,
    )


def _snapshot(chat_id: int, row: dict[str, Any], first_message: str) -> dict[str, Any]:
    """The new chat's snapshot from the values just written (an unsaved `Chat` carries
    them to `snapshot_view`, so it is the same view every other snapshot is)."""
    from chat.lifecycle import snapshot_view  # lifecycle imports this module

    return snapshot_view(Chat(id=chat_id, **row), None, first_message)
