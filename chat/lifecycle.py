"""The chat service layer: every change of a chat's state, one transaction each.

Only this layer changes chats and publishes events, and it publishes only after
the commit (STYLE.md rule 9). Each change is a conditional UPDATE built from the
transition table in `chat/states.py`, so when two processes (or both sides of a
chat) act at once exactly one wins (DESIGN.md principle 3).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Update, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat import desk
from chat.arrivals import Arrival, Arrivals
from chat.bus import Bus, Event
from chat.endings import Ending, Endings, finished_chat, transcripts_of
from chat.errors import (
    AgentUnavailable,
    BadFrame,
    ChatNotFound,
    NoSurvey,
    NotYourChat,
    OfferExpired,
    ServiceNotFound,
)
from chat.models import AgentPresence, Chat, ChatMessage
from chat.prechat import PrechatFields
from chat.receipts import receipts_view
from chat.settings import Settings
from chat.states import OPEN_STATES, ChatState, EndedBy, SurveyState, sources_of
from chat.transcripts import (
    NewMessage,
    TranscriptWriter,
    append_messages,
    message_frame,
    system_line,
)
from ticketing import events
from ticketing.clock import Clock
from ticketing.conversion import FinishedChat, TranscriptLine, convert_chat
from ticketing.db import iso, transaction
from ticketing.models import Agent, AuthorType, Customer, Service, TicketStatus
from ticketing.surveys import answer_survey
from ticketing.tickets import add_customer_reply

log = logging.getLogger("chat.lifecycle")

# Any constant works; it only has to be the same in every process (pg_advisory_xact_lock).
ROUTING_LOCK_KEY = 0x43484154  # "CHAT"

# Built once with bound parameters, on the tables where no ORM object is wanted (see
# chat/desk.py): a routing pass and an accept run these for every chat.
_agents = Agent.__table__
_messages = ChatMessage.__table__


def _first_customer_line(chat_id: Any) -> Any:
    """The chat's first customer line: an agent decides on an offer by what was asked first.
    In a RETURNING, bind the id rather than correlate: SQLite's RETURNING drops table
    names, which would leave a correlated `chats.id` meaning the subquery's own `id`."""
    return (
        select(_messages.c.body)
        .where(_messages.c.chat_id == chat_id, _messages.c.sender == "customer")
        .order_by(_messages.c.seq)
        .limit(1)
        .scalar_subquery()
    )


_SNAPSHOT_READS = select(
    select(_agents.c.name).where(_agents.c.id == bindparam("agent_id")).scalar_subquery(),
    _first_customer_line(bindparam("chat_id")),
)
_chats = Chat.__table__
_CHAT_KEYS = tuple(column.key for column in _chats.c)


def returning_snapshot(statement: Update, *more: Any) -> Update:
    """An UPDATE of one chat (`p_chat_id`) RETURNING its row, its first customer line
    (`chat_and_first_line`) and `more`: the transition and its snapshot's read in one
    round trip."""
    first_message = _first_customer_line(bindparam("p_chat_id"))
    return statement.returning(*_chats.c, first_message.label("first_message"), *more)


def chat_and_first_line(row: Row[Any]) -> tuple[Chat, str | None]:
    """A `returning_snapshot` row as the chat (detached: the caller only reads it) and
    its first customer line."""
    values = row._mapping
    return Chat(**{key: values[key] for key in _CHAT_KEYS}), values["first_message"]


# Accepting: the offer must still be this agent's and unexpired (else no row). The
# counter moves on by one for the "joined" line, and the agent's name comes back with it.
_ACCEPT = returning_snapshot(
    update(_chats)
    .where(
        _chats.c.id == bindparam("p_chat_id"),
        _chats.c.state.in_(sources_of(ChatState.ACTIVE)),
        _chats.c.offered_agent_id == bindparam("p_agent_id"),
        _chats.c.offer_expires_at > bindparam("p_now"),
    )
    .values(
        state=ChatState.ACTIVE,
        agent_id=bindparam("p_agent_id", type_=_chats.c.agent_id.type),
        offered_agent_id=None,
        offer_expires_at=None,
        accepted_at=bindparam("p_now", type_=_chats.c.accepted_at.type),
        last_seq=_chats.c.last_seq + 1,
    ),
    select(_agents.c.name).where(_agents.c.id == bindparam("p_agent_id")).label("agent_name"),
)
_INSERT_LINE = insert(_messages)
_presence = AgentPresence.__table__
_ASSIGNED = (
    update(_presence)
    .where(_presence.c.agent_id == bindparam("p_agent_id"))
    .values(last_assigned_at=bindparam("p_now", type_=_presence.c.last_assigned_at.type))
)
# After a chat ends, a reloaded widget still shows it (and its survey) for this long.
RECENT_CHAT_SECONDS = 3600
PRESENCE_STATUSES = ("online", "away", "offline")


@dataclass
class Outbox:
    """Events gathered during a transaction, published once it has committed."""

    events: list[tuple[str, Event]] = field(default_factory=list)
    route: bool = False
    desk_changed: bool = False

    def add(self, channel: str, event: Event) -> None:
        self.events.append((channel, event))


# What a snapshot adds to the chat row, as subqueries correlated to it: a read of many
# chats (a console's hello) or of a customer's latest chat (a widget's) gets their
# snapshots in the same statement.
SNAPSHOT_AGENT_NAME = (
    select(Agent.name).where(Agent.id == Chat.agent_id).correlate(Chat).scalar_subquery()
)
SNAPSHOT_FIRST_MESSAGE = _first_customer_line(Chat.id).correlate(Chat)


def snapshot_view(chat: Chat, agent_name: str | None, first_message: str | None) -> dict[str, Any]:
    """The chat as clients show it (docs/protocol.md, "snapshot"), from the row and the
    two values a snapshot reads besides it."""
    return {
        "id": chat.id,
        "state": chat.state.value,
        "service_id": chat.service_id,
        "subject": chat.subject,
        "customer": {
            "id": chat.customer_id,
            "name": chat.customer_name,
            "email": chat.customer_email,
        },
        "agent": {"id": chat.agent_id, "name": agent_name} if agent_name is not None else None,
        "queue_position": None,
        "estimated_wait_seconds": None,
        "last_seq": chat.last_seq,
        "created_at": iso(chat.created_at),
        "ended_by": chat.ended_by.value if chat.ended_by else None,
        "end_status": chat.end_status,
        "ticket_id": chat.ticket_id,
        "survey": chat.survey.value,
        "first_message": first_message,
        # How far each side has received and read (chat/receipts.py).
        "receipts": receipts_view(chat),
    }


def shown_to_returning_customer(chat: Chat, now: dt.datetime) -> bool:
    """A returning widget shows its customer's latest chat while it is open, while its
    survey waits for an answer, and for an hour after it ended."""
    if chat.state in OPEN_STATES or chat.survey is SurveyState.PENDING:
        return True
    ended = chat.ended_at or chat.created_at
    return (now - ended).total_seconds() < RECENT_CHAT_SECONDS


def _announce(chat: Chat, snap: dict[str, Any], outbox: Outbox) -> dict[str, Any]:
    """Queue a chat's new snapshot for its followers: its own channel and its agents'."""
    outbox.add(f"chat:{chat.id}", {"type": "chat", "chat": snap})
    for agent_id in {chat.agent_id, chat.offered_agent_id} - {None}:
        outbox.add(f"agent:{agent_id}", {"type": "chat", "chat": snap})
    return snap


class ChatService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        clock: Clock,
        settings: Settings,
        writer: TranscriptWriter,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self.writer = writer
        self.route_requested: Any = None  # set by the dispatcher: a callable that wakes routing
        self.endings = Endings(self)
        self.arrivals = Arrivals(self)

    # ----------------------------------------------------------------- helpers
    def publish(self, outbox: Outbox) -> None:
        for channel, event in outbox.events:
            self.bus.publish(channel, event)
        if outbox.desk_changed or outbox.route:
            self.bus.publish("desk", {"type": "desk_changed"})
        if outbox.route and self.route_requested is not None:
            self.route_requested()

    @staticmethod
    def new_outbox(route: bool = False) -> Outbox:
        return Outbox(route=route)

    def chat_event(
        self, chat: Chat, agent_name: str | None, first_message: str | None, outbox: Outbox
    ) -> dict[str, Any]:
        """Queue the chat's snapshot, from values already read, for its followers."""
        return _announce(chat, snapshot_view(chat, agent_name, first_message), outbox)

    async def snapshot(self, session: AsyncSession, chat: Chat) -> dict[str, Any]:
        """The chat as clients show it; one round trip (agent name and first line together,
        not an ORM `Agent` load with its services: each statement is a round trip)."""
        agent_name_value, first_message = (
            await session.execute(_SNAPSHOT_READS, {"chat_id": chat.id, "agent_id": chat.agent_id})
        ).one()
        return snapshot_view(chat, agent_name_value, first_message)

    async def _chat_event(
        self, session: AsyncSession, chat: Chat, outbox: Outbox
    ) -> dict[str, Any]:
        """Queue the chat's new snapshot for its followers; returns it (reading it twice
        cost an arrival one more round of queries)."""
        return _announce(chat, await self.snapshot(session, chat), outbox)

    async def _system_message(
        self,
        session: AsyncSession,
        chat_id: int,
        body: str,
        now: dt.datetime,
        outbox: Outbox,
        key: str | None = None,
        **params: str,
    ) -> None:
        """A line in the transcript (joins, transfers, endings), published after commit.

        `body` is the English text kept on tickets; `key` and `params` let every
        viewer read the line in their own language (static/i18n/*.json).
        """
        i18n = {"key": key, "params": params} if key else None
        [(row, _)] = await append_messages(
            session, chat_id, [NewMessage(chat_id, "system", None, "", body, None, i18n)], now
        )
        outbox.add(f"chat:{chat_id}", message_frame(row))

    async def _locked_chat(self, session: AsyncSession, chat_id: int) -> Chat | None:
        """The chat row, locked on PostgreSQL until the transaction ends."""
        return await session.scalar(
            select(Chat)
            .where(Chat.id == chat_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def _transition(
        self,
        session: AsyncSession,
        chat_id: int,
        target: ChatState,
        extra_where: tuple[Any, ...] = (),
        **values: Any,
    ) -> Chat | None:
        """Move a chat to `target` if the table allows it from its current state; else None."""
        # RETURNING the whole row, not the id then a SELECT: one round trip, and the row is
        # locked by the UPDATE itself until the transaction ends.
        return await session.scalar(
            update(Chat)
            .where(Chat.id == chat_id, Chat.state.in_(sources_of(target)), *extra_where)
            .values(state=target, **values)
            .returning(Chat)
            .execution_options(populate_existing=True, synchronize_session=False)
        )

    # ----------------------------------------------------------------- customer
    async def start_chat(
        self,
        customer_id: int,
        service_id: int,
        name: str | None,
        email: str | None,
        subject: str | None,
        message: str,
    ) -> dict[str, Any]:
        """The service's form rules apply (chat/prechat.py): a field it hides is dropped.

        One transaction, shared with the other arrivals of the same moment
        (chat/arrivals.py); returns the new chat's snapshot."""
        return await self.arrivals.start(
            Arrival(customer_id, service_id, name, email, subject, message)
        )

    async def leave_message(
        self,
        customer_id: int,
        service_id: int,
        name: str | None,
        email: str | None,
        subject: str | None,
        message: str,
    ) -> int:
        """The out-of-hours / nobody-online form: a ticket handled the next working day.

        After a missed chat the message joins that chat's ticket instead of opening a
        second one for the same conversation. The service's form rules apply, except
        that the email is always required: the answer goes there (chat/prechat.py).
        """
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            service = await session.get(Service, service_id)
            if service is None:
                raise ServiceNotFound()
            rules = PrechatFields.from_dict(service.prechat_fields).for_leave_message()
            form = rules.apply({"name": name, "email": email, "subject": subject})
            email, subject = form["email"], form["subject"] or ""
            customer = await session.get(Customer, customer_id)
            if customer is None:
                raise ChatNotFound()
            name = form["name"] or customer.name
            customer.name, customer.email = name, email
            missed = await session.scalar(
                select(Chat)
                .where(
                    Chat.customer_id == customer_id,
                    Chat.state == ChatState.MISSED,
                    Chat.ticket_id.is_not(None),
                    Chat.ended_at > now - dt.timedelta(seconds=RECENT_CHAT_SECONDS),
                )
                .order_by(Chat.id.desc())
            )
            line = TranscriptLine(AuthorType.CUSTOMER, customer_id, name, message, now)
            if missed is not None and missed.ticket_id is not None:
                await add_customer_reply(session, missed.ticket_id, line)
                return missed.ticket_id
            chat = Chat(
                customer_id=customer_id,
                service_id=service_id,
                subject=subject,
                customer_name=name,
                customer_email=email,
                state=ChatState.WAITING,
                queued_at=now,
                created_at=now,
                last_customer_activity_at=now,
                declined_agent_ids=[],
            )
            session.add(chat)
            await session.flush()
            await append_messages(
                session,
                chat.id,
                [NewMessage(chat.id, "customer", customer_id, name, message, None)],
                now,
            )
            # A message left for later is a chat nobody could take: straight to missed.
            missed_chat = await self._transition(
                session,
                chat.id,
                ChatState.MISSED,
                (),
                ended_at=now,
                ended_by=EndedBy.CUSTOMER,
                end_status=TicketStatus.NEW.value,
            )
            assert missed_chat is not None  # created a moment ago in this transaction
            chat = missed_chat
            ticket = await convert_chat(
                session,
                FinishedChat(
                    chat_id=chat.id,
                    service_id=service_id,
                    customer_id=customer_id,
                    agent_id=None,
                    subject=subject,
                    status=TicketStatus.NEW,
                    ask_for_rating=False,
                    transcript=[line],
                ),
                now,
            )
            chat.ticket_id = ticket.id
            return ticket.id

    async def rate(self, customer_id: int, rating: object, comment: object) -> dict[str, Any]:
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            chat = await session.scalar(
                select(Chat)
                .where(
                    Chat.customer_id == customer_id,
                    Chat.ticket_id.is_not(None),
                    Chat.survey != SurveyState.NONE,
                )
                .order_by(Chat.id.desc())
            )
            if chat is None or chat.ticket_id is None:
                raise NoSurvey()
            survey = await answer_survey(session, chat.ticket_id, rating, comment, now)
            chat.survey = SurveyState.ANSWERED
        event = {"type": "rated", "chat_id": chat.id, "rating": survey.rating}
        self.bus.publish(f"chat:{chat.id}", event)
        return event

    # ----------------------------------------------------------------- agents
    async def set_presence(self, agent_id: int, status: str) -> dict[str, Any]:
        """Online, away or offline: the agent's own choice, shared by all their tabs."""
        if status not in PRESENCE_STATUSES:
            raise BadFrame("status must be online, away or offline")
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            presence = await session.get(AgentPresence, agent_id, with_for_update=True)
            if presence is None:
                presence = AgentPresence(agent_id=agent_id, status=status, status_changed_at=now)
                session.add(presence)
            elif presence.status != status:
                presence.status, presence.status_changed_at = status, now
            await session.flush()
            open_chats, capacity = await desk.agent_load(session, agent_id)
        event = {
            "type": "presence",
            "status": status,
            "capacity": capacity,
            "active_chats": open_chats,
        }
        outbox = Outbox(route=status == "online", desk_changed=True)
        outbox.add(f"agent:{agent_id}", event)
        self.publish(outbox)
        return event

    async def presence_of(self, agent_id: int) -> dict[str, Any]:
        async with self.sessions() as session:
            return await self.presence_in(session, agent_id)

    async def presence_in(self, session: AsyncSession, agent_id: int) -> dict[str, Any]:
        """The `presence` frame, read in the caller's session (one statement)."""
        status, open_chats, capacity = await desk.presence_and_load(session, agent_id)
        return {
            "type": "presence",
            "status": status if status is not None else "offline",
            "capacity": capacity,
            "active_chats": open_chats,
        }

    async def accept(self, agent_id: int, chat_id: int) -> dict[str, Any]:
        now = self.clock.now()
        # The desk's line changes, but no slot frees: an offer already counted against the
        # agent's capacity, so a routing pass now would find nothing new to offer.
        outbox = Outbox(desk_changed=True)
        async with transaction(self.sessions) as session:
            # One statement moves the chat to active, numbers the "joined" line and reads
            # the agent's name and the snapshot's first line; no row: the offer is gone.
            row = (
                await session.execute(
                    _ACCEPT, {"p_chat_id": chat_id, "p_agent_id": agent_id, "p_now": now}
                )
            ).first()
            if row is None:
                raise OfferExpired()
            chat, first_message = chat_and_first_line(row)
            name = row.agent_name
            joined = system_line(
                chat_id,
                chat.last_seq,
                f"{name} joined the chat",
                now,
                "system.agent_joined",
                name=name,
            )
            await session.execute(_INSERT_LINE, [dataclasses.asdict(joined)])
            await session.execute(_ASSIGNED, {"p_agent_id": agent_id, "p_now": now})
            outbox.add(f"chat:{chat_id}", message_frame(joined))
            snap = _announce(chat, snapshot_view(chat, name, first_message), outbox)
        outbox.add(
            f"chat:{chat_id}",
            {"type": "assigned", "chat_id": chat_id, "agent": {"id": agent_id, "name": name}},
        )
        self.publish(outbox)
        return snap

    async def decline(self, agent_id: int, chat_id: int, reason: str = "declined") -> None:
        now = self.clock.now()
        outbox = Outbox(route=True)
        async with transaction(self.sessions) as session:
            chat = await self._locked_chat(session, chat_id)
            if chat is None or chat.offered_agent_id != agent_id:
                raise OfferExpired()
            declined = [*chat.declined_agent_ids, agent_id]
            moved = await self._transition(
                session,
                chat_id,
                ChatState.WAITING,
                (Chat.offered_agent_id == agent_id,),
                offered_agent_id=None,
                offer_expires_at=None,
                declined_agent_ids=declined,
            )
            if moved is None:
                raise OfferExpired()
            await self._chat_event(session, moved, outbox)
        outbox.add(
            f"agent:{agent_id}", {"type": "offer_withdrawn", "chat_id": chat_id, "reason": reason}
        )
        log.info("chat %s %s by agent %s at %s", chat_id, reason, agent_id, iso(now))
        self.publish(outbox)

    async def check_agent_chat(self, agent: Agent, chat_id: int) -> Chat:
        async with self.sessions() as session:
            chat = await session.get(Chat, chat_id)
        if chat is None:
            raise ChatNotFound()
        if agent.role != "admin" and chat.agent_id != agent.id:
            raise ChatNotFound()
        return chat

    async def transfer_to_service(self, agent: Agent, chat_id: int, service_id: int) -> None:
        now = self.clock.now()
        outbox = Outbox(route=True)
        async with transaction(self.sessions) as session:
            service = await session.get(Service, service_id)
            if service is None or not service.active:
                raise ServiceNotFound()
            where = () if agent.role == "admin" else (Chat.agent_id == agent.id,)
            previous = await session.get(Chat, chat_id)
            previous_agent_id = previous.agent_id if previous else None
            chat = await self._transition(
                session,
                chat_id,
                ChatState.WAITING,
                (Chat.state == ChatState.ACTIVE, *where),
                service_id=service_id,
                agent_id=None,
                declined_agent_ids=[],
            )
            if chat is None:
                raise NotYourChat()
            await self._system_message(
                session,
                chat_id,
                f"Transferred to {service.name}; waiting for an agent",
                now,
                outbox,
                "system.transferred_to_service",
                service=service.name,
            )
            await session.refresh(chat)
            await self._chat_event(session, chat, outbox)
        if previous_agent_id:
            outbox.add(f"agent:{previous_agent_id}", {"type": "chat_removed", "chat_id": chat_id})
        self.publish(outbox)

    async def transfer_to_agent(self, agent: Agent, chat_id: int, target_id: int) -> None:
        now = self.clock.now()
        outbox = Outbox(route=True)
        async with transaction(self.sessions) as session:
            await self._lock_routing(session)
            candidates = {a.agent_id: a for a in await desk.available_agents(session, now)}
            target = await session.get(Agent, target_id)
            if target is None or target_id not in candidates or target_id == agent.id:
                raise AgentUnavailable()
            where = () if agent.role == "admin" else (Chat.agent_id == agent.id,)
            previous = await session.get(Chat, chat_id)
            previous_agent_id = previous.agent_id if previous else None
            expires = now + dt.timedelta(seconds=self.settings.offer_timeout_seconds)
            chat = await self._transition(
                session,
                chat_id,
                ChatState.OFFERED,
                (Chat.state == ChatState.ACTIVE, *where),
                agent_id=None,
                offered_agent_id=target_id,
                offer_expires_at=expires,
            )
            if chat is None:
                raise NotYourChat()
            await self._system_message(
                session,
                chat_id,
                f"Transferred to {target.name}",
                now,
                outbox,
                "system.transferred_to_agent",
                name=target.name,
            )
            await session.refresh(chat)
            snap = await self._chat_event(session, chat, outbox)
        outbox.add(
            f"agent:{target_id}", {"type": "offer", "chat": snap, "expires_at": iso(expires)}
        )
        if previous_agent_id:
            outbox.add(f"agent:{previous_agent_id}", {"type": "chat_removed", "chat_id": chat_id})
        self.publish(outbox)

    # ----------------------------------------------------------------- ending
    async def end_chat(
        self,
        chat_id: int,
        ended_by: EndedBy,
        status: TicketStatus | None = None,
        agent: Agent | None = None,
        customer_id: int | None = None,
    ) -> dict[str, Any]:
        """End a chat and convert it to its one ticket, in one transaction (shared with the
        other endings waiting at the same moment: chat/endings.py); returns its snapshot."""
        return await self.endings.end(Ending(chat_id, ended_by, status, agent, customer_id))

    async def miss_chat(self, chat_id: int) -> bool:
        """Nobody took the chat in time: it becomes a ticket, the widget shows the form."""
        now = self.clock.now()
        outbox = Outbox(route=True)
        async with transaction(self.sessions) as session:
            current = await self._locked_chat(session, chat_id)
            if current is None or current.state not in (ChatState.WAITING, ChatState.OFFERED):
                return False
            offered_to = current.offered_agent_id
            chat = await self._transition(
                session,
                chat_id,
                ChatState.MISSED,
                (),
                ended_at=now,
                ended_by=EndedBy.SYSTEM,
                end_status=TicketStatus.NEW.value,
                offered_agent_id=None,
                offer_expires_at=None,
            )
            if chat is None:
                return False
            ticket = await self._convert(session, chat, TicketStatus.NEW, False, now)
            chat.ticket_id = ticket.id
            await session.flush()
            await events.emit(
                session,
                events.DomainEvent(
                    events.CHAT_ENDED,
                    now,
                    ticket.id,
                    chat_id,
                    {"ended_by": "system", "status": "new", "missed": True},
                ),
            )
            await self._chat_event(session, chat, outbox)
            statuses = {s.id: s for s in await desk.service_statuses(session, now)}
        status = statuses.get(chat.service_id)
        outbox.add(
            f"chat:{chat_id}",
            {
                "type": "missed",
                "chat_id": chat_id,
                "ticket_id": ticket.id,
                "next_open": iso(status.next_open) if status else None,
            },
        )
        if offered_to:
            outbox.add(
                f"agent:{offered_to}",
                {"type": "offer_withdrawn", "chat_id": chat_id, "reason": "expired"},
            )
        self.publish(outbox)
        return True

    async def _convert(
        self,
        session: AsyncSession,
        chat: Chat,
        status: TicketStatus,
        ask_for_rating: bool,
        now: dt.datetime,
    ) -> Any:
        """The chat's one ticket, with its transcript (a missed chat's: endings convert
        in groups, chat/endings.py)."""
        transcript = (await transcripts_of(session, [chat.id])).get(chat.id, [])
        return await convert_chat(
            session,
            finished_chat(chat, status, ask_for_rating, transcript),
            now,
        )

    async def _lock_routing(self, session: AsyncSession) -> None:
        """One routing decision at a time across every process (PostgreSQL advisory lock).

        SQLite needs none: it is the single-process deployment and its one pooled
        connection already serialises transactions.
        """
        if session.bind.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROUTING_LOCK_KEY})
