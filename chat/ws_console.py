"""`/ws/console`: the agent's side of the protocol (docs/protocol.md, "Console frames")."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import bindparam, select
from starlette.websockets import WebSocket

from chat.auth import SESSION_COOKIE, session_agent
from chat.connection import Client
from chat.desk import held_by
from chat.errors import ChatNotFound, ChatRateLimited, DeskError
from chat.lifecycle import SNAPSHOT_AGENT_NAME, SNAPSHOT_FIRST_MESSAGE, snapshot_view
from chat.models import Chat
from chat.protocol import CONSOLE_FRAMES, WS_4401_LOGGED_OUT
from chat.runtime import Runtime
from chat.states import ChatState, EndedBy
from chat.transcripts import NewMessage
from chat.ws_common import Session, check_origin, refuse, run_socket, store
from ticketing.db import iso
from ticketing.models import Agent, AgentRole, TicketStatus

# The chats a console holds (active, or offered to it), each with what its snapshot reads
# besides the row: one statement for all of them.
_HELD_CHATS = (
    select(Chat, SNAPSHOT_AGENT_NAME, SNAPSHOT_FIRST_MESSAGE)
    .where(held_by(bindparam("agent_id")))
    .order_by(Chat.id)
)


class ConsoleSession(Session):
    FRAMES = frozenset(
        {
            "presence",
            "accept",
            "decline",
            "message",
            "typing",
            "fetch",
            "end_chat",
            "transfer",
            "delivered",
            "read",
            "ping",
        }
    )

    def __init__(self, runtime: Runtime, client: Client, agent: Agent) -> None:
        self.runtime = runtime
        self.client = client
        self.agent = agent
        # Read on every message: plain attributes, not the ORM's instrumented ones (the
        # agent is a snapshot from the handshake either way; admins are re-checked).
        self.admin = agent.role is AgentRole.ADMIN
        self.author = (agent.id, agent.name)
        self.connection_id: str | None = None

    async def hello(self, frame: dict[str, Any]) -> None:
        """Welcome, then what was missed in every chat held. Two reads whatever the number
        of chats (snapshots with presence, then the replays): after a `kill -9` half the
        consoles say hello to the survivor at once (docs/reliability.md, "Found" 3)."""
        runtime, agent = self.runtime, self.agent
        self.client.service_ids = frozenset(s.id for s in agent.services)
        self.client.hold()  # until the welcome: an offer made meanwhile comes after it
        try:
            welcome = await self._welcome()
        except BaseException:
            self.client.release()  # an error frame must not wait for a welcome that never comes
            raise
        self.client.release(welcome)
        # Follow every chat before reading what was missed, so nothing stored meanwhile
        # falls between the replay and the live events.
        chats = welcome["chats"]
        await asyncio.gather(*(runtime.hub.join_chat(self.client, s["id"]) for s in chats))
        seen = frame.get("chats") or {}
        await runtime.hub.replay_many(self.client, {s["id"]: seen.get(s["id"], 0) for s in chats})

    async def _welcome(self) -> dict[str, Any]:
        """Follow the agent's channel, then read what it holds and is offered."""
        runtime, agent = self.runtime, self.agent
        await runtime.hub.add_console(self.client, agent.id)
        self.connection_id = await runtime.dispatcher.open_connection(agent.id)
        now = runtime.clock.now()
        chats, offers = [], []
        async with runtime.sessions() as session:
            for chat, agent_name, first_message in await session.execute(
                _HELD_CHATS, {"agent_id": agent.id}
            ):
                snap = runtime.receipts.overlay(snapshot_view(chat, agent_name, first_message))
                if chat.state is ChatState.ACTIVE:
                    chats.append(snap)
                elif chat.offer_expires_at and chat.offer_expires_at > now:
                    offers.append({"chat": snap, "expires_at": iso(chat.offer_expires_at)})
            presence = await runtime.service.presence_in(session, agent.id)
        if not runtime.hub.desk_services:
            await runtime.hub.refresh_desk()
        mine, self.client.last_queue = runtime.hub.console_queue(self.client.service_ids)
        return {
            "type": "welcome",
            "agent": agent_view(agent),
            "presence": presence,
            "chats": chats,
            "offers": offers,
            "queue": mine,
            "services": runtime.hub.desk_services,
        }

    async def _my_chat(self, chat_id: int) -> int:
        """The chat if this agent may act in it; admins may join any open chat."""
        if self.admin and not await self._still_admin():
            raise ChatNotFound()
        if chat_id in self.client.chat_ids:
            return chat_id
        if self.admin:
            await self.runtime.service.check_agent_chat(self.agent, chat_id)
            await self.runtime.hub.join_chat(self.client, chat_id)
            return chat_id
        raise ChatNotFound()

    async def _still_admin(self) -> bool:
        """Admin powers as the database has them now, not as at connect time: an admin
        demoted or deactivated meanwhile gets this console closed (4401), so it reconnects
        with exactly the chats it may still see. One lookup per frame, admins only."""
        async with self.runtime.sessions() as session:
            row = await session.get(Agent, self.agent.id)
        if row is not None and row.active and row.role is AgentRole.ADMIN:
            return True
        # After the error frame that the caller's refusal becomes, not before it.
        asyncio.get_running_loop().call_soon(self.client.close, WS_4401_LOGGED_OUT)
        return False

    async def presence(self, frame: dict[str, Any]) -> None:
        await self.runtime.service.set_presence(self.agent.id, frame["status"])

    async def accept(self, frame: dict[str, Any]) -> None:
        await self.runtime.service.accept(self.agent.id, frame["chat_id"])

    async def decline(self, frame: dict[str, Any]) -> None:
        await self.runtime.service.decline(self.agent.id, frame["chat_id"])

    async def message(self, frame: dict[str, Any]) -> None:
        chat_id = await self._my_chat(frame["chat_id"])
        if not self.runtime.limits.chat_messages.allow(chat_id, time.monotonic()):
            raise ChatRateLimited()
        await store(
            self.client,
            self.runtime.writer,
            NewMessage(chat_id, "agent", *self.author, frame["body"], frame["client_id"]),
            self.runtime.receipts.saw,
        )

    async def typing(self, frame: dict[str, Any]) -> None:
        chat_id = await self._my_chat(frame["chat_id"])
        self.runtime.bus.publish(
            f"chat:{chat_id}",
            {
                "type": "typing",
                "chat_id": chat_id,
                "sender": "agent",
                "is_typing": frame["is_typing"],
            },
        )

    async def fetch(self, frame: dict[str, Any]) -> None:
        chat_id = await self._my_chat(frame["chat_id"])
        await self.runtime.hub.replay(self.client, chat_id, frame["after_seq"])

    async def end_chat(self, frame: dict[str, Any]) -> None:
        chat_id = await self._my_chat(frame["chat_id"])
        await self.runtime.service.end_chat(
            chat_id, EndedBy.AGENT, TicketStatus(frame["status"]), agent=self.agent
        )

    async def transfer(self, frame: dict[str, Any]) -> None:
        chat_id = await self._my_chat(frame["chat_id"])
        if frame.get("agent_id") is not None:
            await self.runtime.service.transfer_to_agent(self.agent, chat_id, frame["agent_id"])
        elif frame.get("service_id") is not None:
            await self.runtime.service.transfer_to_service(self.agent, chat_id, frame["service_id"])
        else:
            raise DeskError("Say which agent_id or service_id to transfer to.")

    async def delivered(self, frame: dict[str, Any]) -> None:
        await self.runtime.receipts.note(self._followed(frame), "agent", "delivered", frame["seq"])

    async def read(self, frame: dict[str, Any]) -> None:
        await self.runtime.receipts.note(self._followed(frame), "agent", "read", frame["seq"])

    def _followed(self, frame: dict[str, Any]) -> int:
        """Receipts only for chats this console follows (never a way to probe others)."""
        if frame["chat_id"] not in self.client.chat_ids:
            raise ChatNotFound()
        return int(frame["chat_id"])

    async def ping(self, frame: dict[str, Any]) -> None:
        self.client.send({"type": "pong"})


def agent_view(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "role": agent.role.value,
        "capacity": agent.capacity,
        "services": sorted(s.id for s in agent.services),
    }


async def console_socket(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    logged_in = await session_agent(
        runtime.sessions, websocket.cookies.get(SESSION_COOKIE), runtime.clock
    )
    if logged_in is None or not check_origin(websocket, runtime):
        await refuse(websocket)
        return
    await websocket.accept()
    client = Client(websocket, "agent", runtime.settings.send_queue_limit)
    client.agent = logged_in.agent
    client.session_hash = logged_in.token_hash
    console = ConsoleSession(runtime, client, logged_in.agent)
    try:
        await run_socket(websocket, client, runtime, CONSOLE_FRAMES, console)
    finally:
        runtime.hub.remove(client)
        await client.stop()
        if console.connection_id is not None:
            await runtime.dispatcher.close_connections([console.connection_id])
