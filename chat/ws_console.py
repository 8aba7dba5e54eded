"""`/ws/console`: the agent's side of the protocol (docs/protocol.md, "Console frames")."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import and_, or_, select
from starlette.websockets import WebSocket

from chat.auth import SESSION_COOKIE, session_agent
from chat.connection import Client
from chat.errors import ChatNotFound, ChatRateLimited, DeskError
from chat.models import Chat
from chat.protocol import CONSOLE_FRAMES
from chat.runtime import Runtime
from chat.states import ChatState, EndedBy
from chat.transcripts import NewMessage
from chat.ws_common import check_origin, refuse, run_socket, store
from ticketing.db import iso
from ticketing.models import Agent, AgentRole, TicketStatus


class ConsoleSession:
    def __init__(self, runtime: Runtime, client: Client, agent: Agent) -> None:
        self.runtime = runtime
        self.client = client
        self.agent = agent
        self.connection_id: str | None = None

    def handlers(self) -> dict[str, Any]:
        return {
            "presence": self.presence,
            "accept": self.accept,
            "decline": self.decline,
            "message": self.message,
            "typing": self.typing,
            "fetch": self.fetch,
            "end_chat": self.end_chat,
            "transfer": self.transfer,
            "ping": self.ping,
        }

    async def hello(self, frame: dict[str, Any]) -> None:
        runtime, agent = self.runtime, self.agent
        self.client.service_ids = frozenset(s.id for s in agent.services)
        await runtime.hub.add_console(self.client, agent.id)
        self.connection_id = await runtime.dispatcher.open_connection(agent.id)
        now = runtime.clock.now()
        async with runtime.sessions() as session:
            rows = await session.scalars(
                select(Chat)
                .where(
                    or_(
                        and_(Chat.state == ChatState.ACTIVE, Chat.agent_id == agent.id),
                        and_(Chat.state == ChatState.OFFERED, Chat.offered_agent_id == agent.id),
                    )
                )
                .order_by(Chat.id)
            )
            chats, offers = [], []
            for chat in rows:
                snap = await runtime.service.snapshot(session, chat)
                if chat.state is ChatState.ACTIVE:
                    chats.append(snap)
                elif chat.offer_expires_at and chat.offer_expires_at > now:
                    offers.append({"chat": snap, "expires_at": iso(chat.offer_expires_at)})
        if not runtime.hub.desk_services:
            await runtime.hub.refresh_desk()
        presence = await runtime.service.presence_of(agent.id)
        mine = [e for e in runtime.hub.queue if e["service_id"] in self.client.service_ids]
        self.client.last_queue = mine
        self.client.send(
            {
                "type": "welcome",
                "agent": agent_view(agent),
                "presence": presence,
                "chats": chats,
                "offers": offers,
                "queue": mine,
                "services": runtime.hub.desk_services,
            }
        )
        seen = frame.get("chats") or {}
        for snap in chats:
            await runtime.hub.join_chat(self.client, snap["id"])
            await runtime.hub.replay(self.client, snap["id"], seen.get(snap["id"], 0))

    async def _my_chat(self, chat_id: int) -> int:
        """The chat if this agent may act in it; admins may join any open chat."""
        if chat_id in self.client.chat_ids:
            return chat_id
        if self.agent.role is AgentRole.ADMIN:
            await self.runtime.service.check_agent_chat(self.agent, chat_id)
            await self.runtime.hub.join_chat(self.client, chat_id)
            return chat_id
        raise ChatNotFound()

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
            NewMessage(
                chat_id, "agent", self.agent.id, self.agent.name, frame["body"], frame["client_id"]
            ),
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
        await run_socket(
            websocket, client, runtime, CONSOLE_FRAMES, console.hello, console.handlers()
        )
    finally:
        runtime.hub.remove(client)
        await client.stop()
        if console.connection_id is not None:
            await runtime.dispatcher.close_connections([console.connection_id])
