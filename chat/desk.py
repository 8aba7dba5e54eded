"""What the desk looks like right now, read from the database.

Which services are open (business hours) and staffed (an online agent with a live
console), who can take a chat and how loaded they are, and who waits in line.
Reads only: decisions are made in `chat/lifecycle.py`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, bindparam, cast, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from chat.models import AgentConnection, AgentPresence, Chat
from chat.prechat import DEFAULT as DEFAULT_PRECHAT
from chat.prechat import PrechatFields
from chat.routing import AvailableAgent, WaitingChat
from chat.states import ChatState
from ticketing.business_hours import Schedule
from ticketing.db import constant, iso
from ticketing.models import Agent, Service, agent_services_table

# A console heartbeats every HEARTBEAT_SECONDS; three missed beats mean its
# process is gone (killed, or cut off), so the agent no longer counts as connected.
HEARTBEAT_SECONDS = 5.0
CONNECTION_STALE_SECONDS = 3 * HEARTBEAT_SECONDS

# Until the desk has history, assume a chat waits about a minute per person ahead.
DEFAULT_AVERAGE_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class ServiceStatus:
    id: int
    name: str
    timezone: str
    open: bool
    agents_online: int
    next_open: dt.datetime | None
    prechat: PrechatFields = DEFAULT_PRECHAT  # what the widget's form asks (chat/prechat.py)

    @property
    def available(self) -> bool:
        return self.open and self.agents_online > 0

    def frame(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "open": self.open,
            "available": self.available,
            "next_open": iso(self.next_open),
            "timezone": self.timezone,
            "prechat_fields": self.prechat.to_dict(),
        }


def stale_before(now: dt.datetime) -> dt.datetime:
    """A console last heard before this has missed three heartbeats: its process is gone."""
    return now - dt.timedelta(seconds=CONNECTION_STALE_SECONDS)


def _heard_since(agent_id: Any, since: Any) -> Any:
    connections = AgentConnection.__table__
    return exists().where(
        connections.c.agent_id == agent_id,
        connections.c.closed_at.is_(None),
        connections.c.last_seen_at > since,
    )


def live_connection(now: dt.datetime) -> Any:
    """SQL condition: the agent has a console socket that is open and heartbeating."""
    return _heard_since(Agent.id, stale_before(now))


def held_by(agent_id: Any) -> Any:
    """SQL condition: the chat is the agent's (active with them, or offered to them and
    awaiting their answer). The states are literals: see `ticketing.db.constant`."""
    chats = Chat.__table__
    return or_(
        and_(chats.c.state == constant(ChatState.ACTIVE), chats.c.agent_id == agent_id),
        and_(chats.c.state == constant(ChatState.OFFERED), chats.c.offered_agent_id == agent_id),
    )


def _open_chats_of(agent_id: Any) -> Any:
    chats = Chat.__table__
    return select(func.count(chats.c.id)).where(held_by(agent_id)).scalar_subquery()


def open_chats_of_agent() -> Any:
    """SQL: how many open chats an agent holds (active ones plus offers awaiting an answer)."""
    return _open_chats_of(Agent.id)


# The statements of an arrival, a routing pass and a desk refresh, built once with
# bound parameters, and on the tables where no ORM object is wanted: building a
# statement and its cache key cost about as much CPU as running it, and the ORM's
# handling of a plain row about half as much again (bench.routing's profile).
_agents = Agent.__table__
_presence = AgentPresence.__table__
_chats = Chat.__table__
_online_agent = and_(
    _agents.c.active.is_(True),
    _presence.c.status == constant("online"),
    _heard_since(_agents.c.id, bindparam("stale_before")),
)
_services = Service.__table__
# Each active service with how many agents serving it are online, in one statement (a
# new chat checks its service's, every desk refresh all of them).
_ONLINE_IN_SERVICE = (
    select(func.count())
    .select_from(agent_services_table)
    .join(_agents, _agents.c.id == agent_services_table.c.agent_id)
    .join(_presence, _presence.c.agent_id == _agents.c.id)
    .where(agent_services_table.c.service_id == _services.c.id, _online_agent)
    .correlate(_services)
    .scalar_subquery()
)
_SERVICES = (
    select(
        _services.c.id,
        _services.c.name,
        _services.c.schedule,
        _services.c.prechat_fields,
        _ONLINE_IN_SERVICE.label("agents_online"),
    )
    .where(_services.c.active.is_(True))
    .order_by(_services.c.position, _services.c.id)
)
_ONE_SERVICE = _SERVICES.where(_services.c.id == bindparam("only"))
# The services an agent serves, as "1,4,7": one column of the same statement, not a
# second round trip, in every routing pass (string_agg on PostgreSQL, group_concat on
# SQLite).
_SERVED = (
    select(func.aggregate_strings(cast(agent_services_table.c.service_id, String), ","))
    .where(agent_services_table.c.agent_id == _agents.c.id)
    .correlate(_agents)
    .scalar_subquery()
)
_AVAILABLE = (
    select(
        _agents.c.id,
        _agents.c.capacity,
        _presence.c.last_assigned_at,
        _open_chats_of(_agents.c.id).label("open_chats"),
        _SERVED.label("services"),
    )
    .join(_presence, _presence.c.agent_id == _agents.c.id)
    .where(_online_agent)
)
_FIRST_WAITING = select(_chats.c.id).where(_chats.c.state == constant(ChatState.WAITING)).limit(1)
_LINE = (
    select(
        _chats.c.id,
        _chats.c.service_id,
        _chats.c.queued_at,
        _chats.c.declined_agent_ids,
        _chats.c.customer_name,
        _chats.c.subject,
    )
    .where(_chats.c.state == constant(ChatState.WAITING))
    .order_by(_chats.c.queued_at, _chats.c.id)
    .limit(bindparam("limit"))
)


async def service_statuses(
    session: AsyncSession, now: dt.datetime, only: int | None = None
) -> list[ServiceStatus]:
    """Every active service's status; `only`: just that one's (a new chat checks one)."""
    live = {"stale_before": stale_before(now)}
    if only is None:
        services = await session.execute(_SERVICES, live)
    else:
        services = await session.execute(_ONE_SERVICE, {**live, "only": only})
    statuses = []
    for service in services:
        schedule = Schedule.from_dict(service.schedule)
        is_open = schedule.is_open(now)
        statuses.append(
            ServiceStatus(
                id=service.id,
                name=service.name,
                timezone=schedule.timezone,
                open=is_open,
                agents_online=service.agents_online,
                next_open=None if is_open else schedule.next_open(now),
                prechat=PrechatFields.from_dict(service.prechat_fields),
            )
        )
    return statuses


async def available_agents(session: AsyncSession, now: dt.datetime) -> list[AvailableAgent]:
    """Agents who may get an offer now: active, online, connected, below capacity."""
    rows = await session.execute(_AVAILABLE, {"stale_before": stale_before(now)})
    return [
        AvailableAgent(
            agent_id=agent_id,
            services=frozenset(int(i) for i in served.split(",")) if served else frozenset(),
            capacity=capacity,
            open_chats=open_chats,
            last_assigned_at=last_assigned_at,
        )
        for agent_id, capacity, last_assigned_at, open_chats, served in rows.all()
        if open_chats < capacity
    ]


async def agent_load(session: AsyncSession, agent_id: int) -> tuple[int, int]:
    """(open chats, capacity) of one agent."""
    row = (
        await session.execute(
            select(open_chats_of_agent(), Agent.capacity).where(Agent.id == agent_id)
        )
    ).one()
    return int(row[0]), int(row[1])


async def presence_and_load(session: AsyncSession, agent_id: int) -> tuple[str | None, int, int]:
    """(chosen status or None if never set, open chats, capacity) of one agent, in one
    statement: a console's hello reads it for every reconnect."""
    status = (
        select(AgentPresence.status)
        .where(AgentPresence.agent_id == Agent.id)
        .correlate(Agent)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(status, open_chats_of_agent(), Agent.capacity).where(Agent.id == agent_id)
        )
    ).one()
    return row[0], int(row[1]), int(row[2])


async def anyone_waiting(connection: AsyncConnection) -> bool:
    """Whether any chat waits in line: one indexed row, not the line itself (a routing pass
    asks first, before taking the lock, and it runs after every arrival and ending)."""
    return await connection.scalar(_FIRST_WAITING) is not None


async def waiting_chats(session: AsyncSession, limit: int = 1000) -> list[WaitingChat]:
    rows = await session.execute(_LINE, {"limit": limit})
    return [
        WaitingChat(chat_id, service_id, queued_at, frozenset(declined or ()))
        for chat_id, service_id, queued_at, declined, _, _ in rows.all()
    ]


async def waiting_queue(
    session: AsyncSession, limit: int = 5000, shown: int = 200
) -> tuple[list[WaitingChat], list[dict[str, Any]]]:
    """`waiting_chats` and `queue_entries` from ONE query: the desk refresh needs both,
    and it runs after every arrival."""
    rows = await session.execute(_LINE, {"limit": limit})
    waiting, entries = [], []
    for chat_id, service_id, queued_at, declined, name, subject in rows.all():
        waiting.append(WaitingChat(chat_id, service_id, queued_at, frozenset(declined or ())))
        if len(entries) < shown:
            entries.append(
                {
                    "chat_id": chat_id,
                    "service_id": service_id,
                    "customer_name": name,
                    "subject": subject,
                    "waiting_since": iso(queued_at),
                }
            )
    return waiting, entries


# The last hour's accepted chats, newest first: read backwards along `accepted_at`'s
# index (migration 0010) and stopped at the 500th, however long the desk's history.
RECENTLY_ACCEPTED = (
    select(Chat.created_at, Chat.accepted_at)
    .where(Chat.accepted_at > bindparam("since"))
    .order_by(Chat.accepted_at.desc())
    .limit(500)
)


async def average_wait_seconds(session: AsyncSession, now: dt.datetime) -> float:
    """How long the chats accepted in the last hour waited, on average (the latest 500)."""
    rows = await session.execute(RECENTLY_ACCEPTED, {"since": now - dt.timedelta(hours=1)})
    waits = [(accepted - created).total_seconds() for created, accepted in rows.all()]
    return sum(waits) / len(waits) if waits else DEFAULT_AVERAGE_WAIT_SECONDS


async def queue_entries(session: AsyncSession, limit: int = 200) -> list[dict[str, Any]]:
    """The waiting chats as agents see them in the console's queue."""
    rows = await session.execute(
        select(Chat.id, Chat.service_id, Chat.customer_name, Chat.subject, Chat.queued_at)
        .where(Chat.state == constant(ChatState.WAITING))
        .order_by(Chat.queued_at, Chat.id)
        .limit(limit)
    )
    return [
        {
            "chat_id": chat_id,
            "service_id": service_id,
            "customer_name": name,
            "subject": subject,
            "waiting_since": iso(queued_at),
        }
        for chat_id, service_id, name, subject, queued_at in rows.all()
    ]


async def agent_roster(session: AsyncSession, now: dt.datetime) -> list[dict[str, Any]]:
    """Every active agent with presence and load, for picking whom to transfer a chat to.

    Those who could take it now (online, connected, a free slot) come first, least
    loaded first: the same test `available_agents` applies when the transfer is made.
    """
    load = open_chats_of_agent().label("open_chats")
    connected = live_connection(now).label("connected")
    rows = await session.execute(
        select(Agent, AgentPresence.status, connected, load)
        .outerjoin(AgentPresence, AgentPresence.agent_id == Agent.id)
        .where(Agent.active.is_(True))
    )
    roster = []
    for agent, status, is_connected, open_chats in rows.all():
        presence = status or "offline"
        roster.append(
            {
                "id": agent.id,
                "name": agent.name,
                "presence": presence,
                "connected": bool(is_connected),
                "open_chats": int(open_chats),
                "capacity": agent.capacity,
                "services": sorted(s.id for s in agent.services),
                "available": presence == "online"
                and bool(is_connected)
                and open_chats < agent.capacity,
            }
        )
    roster.sort(
        key=lambda a: (
            not a["available"],
            a["open_chats"] / a["capacity"] if a["capacity"] else 1.0,
            a["name"].lower(),
        )
    )
    return roster
