"""Routing and timers: the part of the hub that acts without being asked.

Routing runs whenever something may have freed a slot or queued a chat (and on
every sweep, as a safety net for events lost on the bus). Timers are deadlines
stored on rows — offer expiry, maximum wait, the agent's grace period, customer
inactivity — found by query, so any process's sweep may act on them and the
conditional UPDATEs in the service layer make sure only one does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from chat import desk
from chat.errors import ChatError
from chat.lifecycle import (
    ChatService,
    Outbox,
    chat_and_first_line,
    returning_snapshot,
    snapshot_view,
)
from chat.models import AgentConnection, AgentPresence, Chat
from chat.routing import plan_offers
from chat.states import ChatState, EndedBy, sources_of
from ticketing.db import constant, iso, one_statement, transaction
from ticketing.deliveries import Deliverer
from ticketing.mail_out import MailSettings
from ticketing.timers import run_ticket_timers

log = logging.getLogger("chat.dispatcher")

# Closed console rows are kept a while (they tell when the agent left), then purged.
CONNECTION_RETENTION = dt.timedelta(hours=1)
# Ticket timers act on days and business hours; a half-minute's delay is invisible.
TICKET_TIMER_SECONDS = 30.0


# An offer, built once with bound parameters (chat/desk.py says why): only a chat still
# waiting (not one offered by a transfer), RETURNING what its snapshot shows.
_chats = Chat.__table__
_OFFER = returning_snapshot(
    update(_chats)
    .where(
        _chats.c.id == bindparam("p_chat_id"),
        _chats.c.state.in_(sources_of(ChatState.OFFERED)),
        _chats.c.state == ChatState.WAITING,
    )
    .values(
        state=ChatState.OFFERED,
        offered_agent_id=bindparam("p_agent_id", type_=_chats.c.offered_agent_id.type),
        offer_expires_at=bindparam("p_expires", type_=_chats.c.offer_expires_at.type),
    )
)


# Chats still waiting for an agent (queued, or offered and not yet accepted) since
# before `since`: through the partial index of unanswered chats (migration 0009), which
# holds only those, however long the desk's history.
UNANSWERED_SINCE = select(Chat.id).where(
    Chat.state.in_((constant(ChatState.WAITING), constant(ChatState.OFFERED))),
    Chat.created_at <= bindparam("since"),
)


class Dispatcher:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.process_id = f"{uuid.uuid4().hex[:12]}"
        self._route_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._local_connections: set[str] = set()
        service.route_requested = self._route_wakeup.set

    async def start(self, *, sweep: bool = True) -> None:
        """Run routing and heartbeats; `sweep=False` leaves timers to explicit `sweep()` calls
        (tests drive them with a fake clock)."""
        self._tasks = [
            asyncio.create_task(self._routing_loop(), name="routing"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
        ]
        if sweep:
            self._tasks.append(asyncio.create_task(self._sweep_loop(), name="sweeper"))
            self._tasks.append(asyncio.create_task(self._ticket_timer_loop(), name="tickets"))
            self._tasks.append(asyncio.create_task(self._delivery_loop(), name="deliveries"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        if self._local_connections:
            try:
                await self.close_connections(list(self._local_connections))
            except (OperationalError, DBAPIError, OSError):
                log.warning("could not mark consoles closed at shutdown")

    # ----------------------------------------------------------------- routing
    async def _routing_loop(self) -> None:
        while True:
            await self._route_wakeup.wait()
            self._route_wakeup.clear()
            try:
                await self.route()
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("routing failed, retrying on the next sweep: %s", exc)
            except Exception:
                log.exception("routing failed")

    async def route(self) -> int:
        """Offer waiting chats to free agents; returns how many offers were made."""
        service = self.service
        now = service.clock.now()
        outbox = Outbox()
        expires = now + dt.timedelta(seconds=service.settings.offer_timeout_seconds)
        # Most passes (an ending freed a slot, nobody waits) end here: one statement on a
        # bare connection, no ORM session, and on PostgreSQL no BEGIN and COMMIT around it.
        async with one_statement(service.sessions) as connection:
            if not await desk.anyone_waiting(connection):
                return 0
        async with transaction(service.sessions) as session:
            await service._lock_routing(session)
            # Read the line under the lock: another process may have routed meanwhile.
            waiting = await desk.waiting_chats(session)
            agents = await desk.available_agents(session, now)
            if not waiting or not agents:
                return 0
            offers = plan_offers(waiting, agents, now)
            made = 0
            # Chat rows are locked in id order, as the transcript writer locks them, so
            # routing and a group commit can never deadlock on PostgreSQL.
            for offer in sorted(offers, key=lambda o: o.chat_id):
                row = (
                    await session.execute(
                        _OFFER,
                        {
                            "p_chat_id": offer.chat_id,
                            "p_agent_id": offer.agent_id,
                            "p_expires": expires,
                        },
                    )
                ).first()
                if row is None:
                    continue
                made += 1
                chat, first_message = chat_and_first_line(row)
                # A waiting chat has no agent (transfers and requeues clear it); were one
                # kept, the snapshot reads its name.
                if chat.agent_id is None:
                    snap = snapshot_view(chat, None, first_message)
                else:
                    snap = await service.snapshot(session, chat)
                outbox.add(f"chat:{chat.id}", {"type": "chat", "chat": snap})
                outbox.add(
                    f"agent:{offer.agent_id}",
                    {"type": "offer", "chat": snap, "expires_at": iso(expires)},
                )
        outbox.desk_changed = made > 0
        service.publish(outbox)
        return made

    # ----------------------------------------------------------------- timers
    async def _sweep_loop(self) -> None:
        interval = self.service.settings.sweep_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("sweep failed, retrying: %s", exc)
            except Exception:
                log.exception("sweep failed")

    async def sweep(self) -> None:
        """Act on every deadline that has passed; safe to run in many processes at once."""
        service = self.service
        settings = service.settings
        now = service.clock.now()
        async with service.sessions() as session:
            expired_offers = (
                await session.execute(
                    select(Chat.id, Chat.offered_agent_id).where(
                        Chat.state == constant(ChatState.OFFERED),
                        Chat.offer_expires_at <= now,
                    )
                )
            ).all()
            too_long = list(
                await session.scalars(
                    UNANSWERED_SINCE,
                    {"since": now - dt.timedelta(seconds=settings.max_wait_seconds)},
                )
            )
            silent = list(
                await session.scalars(
                    select(Chat.id).where(
                        Chat.state == constant(ChatState.ACTIVE),
                        Chat.last_customer_activity_at
                        <= now - dt.timedelta(seconds=settings.customer_inactivity_seconds),
                    )
                )
            )
            gone = await self._agents_past_grace(session, now)
        for chat_id in too_long:
            await service.miss_chat(chat_id)
        for chat_id, agent_id in expired_offers:
            if chat_id in too_long or agent_id is None:
                continue
            try:
                await service.decline(agent_id, chat_id, reason="expired")
            except ChatError:
                pass  # accepted or withdrawn meanwhile
        for chat_id in silent:
            try:
                await service.end_chat(chat_id, EndedBy.INACTIVITY)
            except ChatError:
                pass  # ended meanwhile
        for agent_id in gone:
            await self.requeue_agent_chats(agent_id)
        await self.route()

    async def _agents_past_grace(self, session: AsyncSession, now: dt.datetime) -> list[int]:
        """Agents holding open chats whose last console went away longer ago than the grace."""
        holders = (
            select(Chat.agent_id.label("agent_id"))
            .where(Chat.state == constant(ChatState.ACTIVE), Chat.agent_id.is_not(None))
            .union(
                select(Chat.offered_agent_id).where(
                    Chat.state == constant(ChatState.OFFERED), Chat.offered_agent_id.is_not(None)
                )
            )
            .subquery()
        )
        stale_before = now - dt.timedelta(seconds=desk.CONNECTION_STALE_SECONDS)
        grace_before = now - dt.timedelta(seconds=self.service.settings.agent_grace_seconds)
        live = select(AgentConnection.agent_id).where(
            AgentConnection.closed_at.is_(None), AgentConnection.last_seen_at > stale_before
        )
        last_gone = (
            select(
                AgentConnection.agent_id,
                func.max(
                    func.coalesce(AgentConnection.closed_at, AgentConnection.last_seen_at)
                ).label("gone_at"),
            )
            .group_by(AgentConnection.agent_id)
            .subquery()
        )
        rows = await session.execute(
            select(holders.c.agent_id)
            .outerjoin(last_gone, last_gone.c.agent_id == holders.c.agent_id)
            .where(
                holders.c.agent_id.not_in(live),
                or_(last_gone.c.gone_at.is_(None), last_gone.c.gone_at <= grace_before),
            )
        )
        return [agent_id for (agent_id,) in rows.all()]

    async def requeue_agent_chats(self, agent_id: int) -> None:
        """The agent's console is gone for good: their chats go back to the queue, in front."""
        service = self.service
        now = service.clock.now()
        outbox = Outbox(route=True, desk_changed=True)
        async with transaction(service.sessions) as session:
            chat_ids = list(
                await session.scalars(
                    select(Chat.id)
                    .where(desk.held_by(agent_id))
                    .order_by(Chat.id)  # lock order of the transcript writer: no deadlock
                )
            )
            for chat_id in chat_ids:
                chat = await service._transition(
                    session,
                    chat_id,
                    ChatState.WAITING,
                    (or_(Chat.agent_id == agent_id, Chat.offered_agent_id == agent_id),),
                    agent_id=None,
                    offered_agent_id=None,
                    offer_expires_at=None,
                )
                if chat is None:
                    continue
                await service._system_message(
                    session,
                    chat_id,
                    "The agent was disconnected; you are back at the front of the queue",
                    now,
                    outbox,
                    "system.agent_disconnected",
                )
                await session.refresh(chat)
                await service._chat_event(session, chat, outbox)
                outbox.add(f"agent:{agent_id}", {"type": "chat_removed", "chat_id": chat_id})
        if chat_ids:
            log.info("agent %s gone past grace; re-queued chats %s", agent_id, chat_ids)
        service.publish(outbox)

    async def _ticket_timer_loop(self) -> None:
        """Reminders, auto-closes and SLA flags; minutes matter here, not seconds."""
        while True:
            await asyncio.sleep(TICKET_TIMER_SECONDS)
            try:
                await run_ticket_timers(self.service.sessions, self.service.clock.now())
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("ticket timers failed, retrying: %s", exc)
            except Exception:
                log.exception("ticket timers failed")

    async def _delivery_loop(self) -> None:
        """Email and webhooks from their durable outboxes (ticketing/deliveries.py)."""
        mail = MailSettings.from_settings(self.service.settings)
        async with Deliverer(self.service.sessions, mail, worker=self.process_id) as deliverer:
            await deliverer.run(self.service.clock)

    # ----------------------------------------------------------------- consoles
    async def open_connection(self, agent_id: int) -> str:
        now = self.service.clock.now()
        connection_id = str(uuid.uuid4())
        async with transaction(self.service.sessions) as session:
            session.add(
                AgentConnection(
                    id=connection_id,
                    agent_id=agent_id,
                    process_id=self.process_id,
                    opened_at=now,
                    last_seen_at=now,
                )
            )
            if await session.get(AgentPresence, agent_id) is None:
                session.add(
                    AgentPresence(agent_id=agent_id, status="offline", status_changed_at=now)
                )
        self._local_connections.add(connection_id)
        self.service.publish(Outbox(route=True, desk_changed=True))
        return connection_id

    async def close_connections(self, connection_ids: list[str]) -> None:
        now = self.service.clock.now()
        for connection_id in connection_ids:
            self._local_connections.discard(connection_id)
        async with transaction(self.service.sessions) as session:
            await session.execute(
                update(AgentConnection)
                .where(AgentConnection.id.in_(connection_ids))
                .values(closed_at=now)
            )
        self.service.publish(Outbox(desk_changed=True))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(desk.HEARTBEAT_SECONDS)
            try:
                await self.heartbeat()
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("console heartbeat failed: %s", exc)

    async def heartbeat(self) -> None:
        """Keep this process's consoles live, and forget long-closed ones."""
        now = self.service.clock.now()
        async with transaction(self.service.sessions) as session:
            if self._local_connections:
                await session.execute(
                    update(AgentConnection)
                    .where(AgentConnection.id.in_(list(self._local_connections)))
                    .values(last_seen_at=now)
                )
            await session.execute(
                AgentConnection.__table__.delete().where(
                    AgentConnection.closed_at < now - CONNECTION_RETENTION
                )
            )
