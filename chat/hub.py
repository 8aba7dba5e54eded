"""The hub: this process's sockets, and the bus events that concern them.

Each process subscribes upstream once per channel it has sockets for (`chat:N`,
`agent:N`, `desk`) and fans every event out to its own clients, encoding each
event once. The hub holds nothing another process needs (DESIGN.md principle 1):
what it tracks is only which local socket cares about which channel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from chat import desk
from chat.bus import Bus, Event, Subscription
from chat.connection import Client, encode
from chat.lifecycle import ChatService
from chat.protocol import WS_4401_LOGGED_OUT
from chat.routing import estimated_wait_seconds, queue_positions
from chat.transcripts import message_frame, message_frames_after, messages_after_many
from ticketing.db import one_statement

log = logging.getLogger("chat.hub")

# Many queue/presence changes in a burst cause one refresh, at most this often.
DESK_REFRESH_DEBOUNCE_SECONDS = 0.1
# Opening hours change on the clock, not on an event: look this often.
DESK_REFRESH_PERIOD_SECONDS = 2.0
# A waiting customer's place in line is sent at most this often: when the head of a long
# queue moves, every waiting widget's place changes, and a refresh runs after every
# arrival (ten a second in a rush), so unthrottled that was thousands of frames a second
# exactly when the desk is busiest.
WIDGET_QUEUE_UPDATE_SECONDS = 1.0
# The average wait (an hour's accepted chats) feeds an estimate: re-read it this often,
# not on every refresh (one runs after every arrival).
AVERAGE_WAIT_REFRESH_SECONDS = 10.0


class Hub:
    def __init__(self, bus: Bus, service: ChatService) -> None:
        self.bus = bus
        self.service = service
        self.widgets: set[Client] = set()
        self.consoles: set[Client] = set()
        self._by_channel: dict[str, set[Client]] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._desk_dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.desk_services: list[dict[str, Any]] = []
        self.queue: list[dict[str, Any]] = []
        self._average_wait: tuple[float, float] | None = None  # (loop time read, seconds)
        # Per refresh: the console `queue` frame for each set of services (console_queue).
        self._console_queues: dict[frozenset[int], tuple[list[dict[str, Any]], str]] = {}
        # One refresh at a time: a slower one that read the clock earlier must never land
        # after (and overwrite) one that was asked for later.
        self._refresh_lock = asyncio.Lock()

    async def start(self) -> None:
        self._subscribe("desk", self._on_desk_event)
        await self._subscriptions["desk"].ready()
        self.bus.on_reconnect(self._on_bus_reconnect)
        self._tasks = [asyncio.create_task(self._desk_loop(), name="desk-refresh")]
        self._desk_dirty.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        for sub in self._subscriptions.values():
            sub.close()
        self._subscriptions.clear()

    # ----------------------------------------------------------------- membership
    def _subscribe(self, channel: str, handler: Callable[[str, Event], None]) -> Subscription:
        sub = self._subscriptions.get(channel)
        if sub is None:
            sub = self._subscriptions[channel] = self.bus.subscribe(channel, handler)
        return sub

    def _join(self, client: Client, channel: str) -> Subscription:
        self._by_channel.setdefault(channel, set()).add(client)
        return self._subscribe(channel, self._on_event)

    def _leave(self, client: Client, channel: str) -> None:
        members = self._by_channel.get(channel)
        if members is None:
            return
        members.discard(client)
        if not members:
            del self._by_channel[channel]
            sub = self._subscriptions.pop(channel, None)
            if sub is not None:
                sub.close()

    async def join_chat(self, client: Client, chat_id: int) -> None:
        """From now on the client gets the chat's events (waits for the subscription)."""
        client.chat_ids.add(chat_id)
        sub = self._join(client, f"chat:{chat_id}")
        await _ready(sub)

    def leave_chat(self, client: Client, chat_id: int) -> None:
        client.chat_ids.discard(chat_id)
        self._leave(client, f"chat:{chat_id}")

    def add_widget(self, client: Client) -> None:
        self.widgets.add(client)

    async def add_console(self, client: Client, agent_id: int) -> None:
        self.consoles.add(client)
        await _ready(self._join(client, f"agent:{agent_id}"))

    def remove(self, client: Client) -> None:
        self.widgets.discard(client)
        self.consoles.discard(client)
        for chat_id in list(client.chat_ids):
            self.leave_chat(client, chat_id)
        if client.agent is not None:
            self._leave(client, f"agent:{client.agent.id}")

    def agent_clients(self, agent_id: int) -> set[Client]:
        return set(self._by_channel.get(f"agent:{agent_id}", ()))

    # ----------------------------------------------------------------- fan-out
    def _on_event(self, channel: str, event: Event) -> None:
        members = self._by_channel.get(channel)
        if not members:
            return
        kind = event.get("type")
        if channel.startswith("agent:"):
            self._on_agent_event(members, event)
            return
        if kind == "typing":
            sender = event.get("sender")
            text = encode(event)
            for client in members:
                if client.role != sender:
                    client.send_text(text)
            return
        text = encode(event)
        for client in list(members):
            client.send_text(text)

    def _on_agent_event(self, members: set[Client], event: Event) -> None:
        kind = event.get("type")
        if kind == "logout":
            for client in list(members):
                if client.session_hash == event.get("session"):
                    client.close(WS_4401_LOGGED_OUT)
            return
        if kind == "services_changed":  # internal: the queue they see follows at once
            for client in members:
                client.service_ids = frozenset(event["service_ids"])
                client.last_queue = None
            self._desk_dirty.set()
            return
        if kind == "chat":
            chat_id = event["chat"]["id"]
            for client in list(members):
                if chat_id not in client.chat_ids and event["chat"]["state"] == "active":
                    asyncio.create_task(self._attach(client, chat_id))
        if kind == "chat_removed":
            for client in list(members):
                self.leave_chat(client, event["chat_id"])
        text = encode(event)
        for client in list(members):
            client.send_text(text)

    async def _attach(self, client: Client, chat_id: int) -> None:
        """A chat became this agent's (accepted or transferred in): follow it, send history."""
        await self.join_chat(client, chat_id)
        await self.replay(client, chat_id, 0)

    async def replay(self, client: Client, chat_id: int, after_seq: int) -> None:
        async with one_statement(self.service.sessions) as connection:
            frames = await message_frames_after(connection, chat_id, after_seq)
        await self._send_paced(client, frames)

    async def replay_many(self, client: Client, after: dict[int, int]) -> None:
        """`replay` of several chats (`{chat_id: after_seq}`) from one read, chat by chat
        in id order; the client must already follow them all (`join_chat`)."""
        if not after:
            return
        async with self.service.sessions() as session:
            rows = await messages_after_many(session, after)
        await self._send_paced(client, [message_frame(row) for row in rows])

    async def _send_paced(self, client: Client, frames: list[dict[str, Any]]) -> None:
        """In chunks of a quarter queue, each when it fits: a backlog longer than the
        queue reaches a client that reads it, however long it is."""
        chunk = max(1, client.queue_limit // 4)
        for start in range(0, len(frames), chunk):
            if not await client.wait_for_room(chunk):
                return  # gone, or not reading: it resumes from the transcript later
            for frame in frames[start : start + chunk]:
                client.send(frame)

    # ----------------------------------------------------------------- desk view
    def request_refresh(self) -> None:
        """Refresh this process's clients soon (a new client wants its queue position)."""
        self._desk_dirty.set()

    def _on_desk_event(self, channel: str, event: Event) -> None:
        self._desk_dirty.set()

    def _on_bus_reconnect(self) -> None:
        # Events may have been lost: refresh the desk; clients fill message gaps by seq.
        self._desk_dirty.set()

    async def _desk_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(DESK_REFRESH_PERIOD_SECONDS):
                    await self._desk_dirty.wait()
            except TimeoutError:
                pass
            self._desk_dirty.clear()
            try:
                await self.refresh_desk()
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("desk refresh failed: %s", exc)
            except Exception:
                log.exception("desk refresh failed")
            await asyncio.sleep(DESK_REFRESH_DEBOUNCE_SECONDS)

    async def refresh_desk(self) -> None:
        """Recompute opening/staffing and the queue; tell local clients what changed."""
        async with self._refresh_lock:
            await self._refresh_desk()

    async def _refresh_desk(self) -> None:
        now = self.service.clock.now()
        async with self.service.sessions() as session:
            service_statuses = await desk.service_statuses(session, now)
            waiting, entries = await desk.waiting_queue(session, limit=5000)
            average = await self._average_wait_seconds(session, now)
        statuses = [s.frame() for s in service_statuses]
        self.desk_services, self.queue = statuses, entries
        self._console_queues = {}
        online = {s.id: s.agents_online for s in service_statuses}
        desk_text = encode({"type": "desk_status", "services": statuses})
        for client in list(self.widgets) + list(self.consoles):
            if client.last_desk != desk_text:
                client.last_desk = desk_text
                client.send_text(desk_text)
        positions = queue_positions(waiting)
        service_of = {w.chat_id: w.service_id for w in waiting}
        now = asyncio.get_running_loop().time()
        for client in list(self.widgets):
            for chat_id in client.chat_ids:
                position = positions.get(chat_id)
                if position is None or client.last_queue == position:
                    continue
                if (
                    client.last_queue is not None
                    and now - client.queue_sent_at < WIDGET_QUEUE_UPDATE_SECONDS
                ):
                    continue  # a later refresh (one runs every 2 s at least) sends it
                client.last_queue = position
                client.queue_sent_at = now
                client.send(
                    {
                        "type": "queue",
                        "chat_id": chat_id,
                        "queue_position": position,
                        "estimated_wait_seconds": estimated_wait_seconds(
                            position, online.get(service_of[chat_id], 0), average
                        ),
                    }
                )
        for client in list(self.consoles):
            _, text = self.console_queue(client.service_ids)
            if client.last_queue != text:
                client.last_queue = text
                client.send_text(text)

    def console_queue(self, service_ids: frozenset[int]) -> tuple[list[dict[str, Any]], str]:
        """The queue a console with these services sees, and its `queue` frame, built once
        per refresh for every console with the same services: 500 consoles each filtering
        and encoding 200 entries, ten times a second under a rush, was most of a refresh."""
        shared = self._console_queues.get(service_ids)
        if shared is None:
            mine = [e for e in self.queue if e["service_id"] in service_ids]
            shared = (mine, encode({"type": "queue", "waiting": mine}))
            self._console_queues[service_ids] = shared
        return shared

    async def _average_wait_seconds(self, session: AsyncSession, now: dt.datetime) -> float:
        read_at = asyncio.get_running_loop().time()
        cached = self._average_wait
        if cached is None or read_at - cached[0] > AVERAGE_WAIT_REFRESH_SECONDS:
            cached = self._average_wait = (read_at, await desk.average_wait_seconds(session, now))
        return cached[1]


async def _ready(sub: Subscription) -> None:
    """Wait for the upstream subscription, but never hang a socket on a bus outage."""
    try:
        async with asyncio.timeout(5):
            await sub.ready()
    except TimeoutError:
        log.warning("bus subscription to %s not confirmed; continuing", sub.channel)
