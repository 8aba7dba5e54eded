"""Test helpers that read like the support desk: a live desk, customers and agents.

`start_desk` runs the real app under uvicorn on a free loopback port, with a fake
clock; `Customer` and `AgentConsole` speak the real websocket protocol through the
`websockets` client, exactly as the widget and the console do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from sqlalchemy import event
from websockets.asyncio.client import ClientConnection, connect

from chat.app import create_app
from chat.runtime import Runtime
from chat.seed import create_agent, seed_services
from chat.settings import Settings
from chat.ws_protocol import websocket_options
from ticketing import events
from ticketing.clock import FakeClock
from ticketing.db import transaction
from ticketing.models import Agent, AgentRole

# A Wednesday morning: every seeded service is open.
WEDNESDAY_MORNING = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
FRAME_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveDesk:
    base_url: str
    ws_url: str
    runtime: Runtime
    clock: FakeClock
    server: uvicorn.Server
    _sockets: list[ClientConnection] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.base_url

    async def add_agent(
        self,
        name: str,
        *,
        services: list[int] | None = None,
        capacity: int = 3,
        admin: bool = False,
    ) -> tuple[Agent, str]:
        password = f"pw-{uuid.uuid4().hex[:10]}"
        email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@desk.test"
        async with transaction(self.runtime.sessions) as session:
            agent = await create_agent(
                session,
                email,
                name,
                password,
                capacity=capacity,
                service_ids=services,
                role=AgentRole.ADMIN if admin else AgentRole.AGENT,
            )
        return agent, password

    async def login(self, agent: Agent, password: str) -> httpx.Cookies:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            response = await http.post(
                "/api/auth/login", json={"email": agent.email, "password": password}
            )
            response.raise_for_status()
            return response.cookies

    async def agent(
        self,
        name: str = "Bea",
        *,
        services: list[int] | None = None,
        capacity: int = 3,
        online: bool = True,
        admin: bool = False,
    ) -> AgentConsole:
        agent, password = await self.add_agent(
            name, services=services, capacity=capacity, admin=admin
        )
        console = AgentConsole(self, agent, await self.login(agent, password))
        await console.connect()
        if online:
            await console.go_online()
        return console

    async def customer(self, token: str | None = None) -> Customer:
        customer = Customer(self, token)
        await customer.connect()
        return customer

    async def sweep(self, seconds: float = 0) -> None:
        """Move the clock and let the timers act, as the sweeper would."""
        self.clock.advance(seconds)
        # In real time the consoles still connected would have heartbeaten meanwhile.
        await self.runtime.dispatcher.heartbeat()
        await self.runtime.dispatcher.sweep()
        await self.runtime.bus.flush()


class Peer:
    """Something holding a websocket: keeps every frame it got, for later assertions."""

    path = ""

    def __init__(self, desk: LiveDesk) -> None:
        self.desk = desk
        self.ws: ClientConnection | None = None
        self.frames: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []

    async def open(self, headers: dict[str, str] | None = None) -> None:
        self.ws = await connect(
            self.desk.ws_url + self.path,
            origin=self.desk.origin,  # type: ignore[arg-type]
            additional_headers=headers or {},
            open_timeout=FRAME_TIMEOUT,
        )
        self.desk._sockets.append(self.ws)

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def expect(
        self,
        kind: str | tuple[str, ...],
        where: Callable[[dict[str, Any]], bool] = lambda f: True,
        timeout: float = FRAME_TIMEOUT,
        *,
        keep: bool = False,
    ) -> dict[str, Any]:
        """The next frame of this type, or of one of these types (frames skipped on the way
        stay readable; with `keep`, so does the one returned)."""
        kinds = (kind,) if isinstance(kind, str) else kind
        for index, frame in enumerate(self._unread):
            if frame["type"] in kinds and where(frame):
                if not keep:
                    del self._unread[index]
                return frame
        assert self.ws is not None
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)
                if frame["type"] in kinds and where(frame):
                    if keep:
                        self._unread.append(frame)
                    return frame
                self._unread.append(frame)

    async def stored(self, client_id: str, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The server's confirmation that our message `client_id` is stored: its `message`
        echo (left unread: it is also the line itself) or, for a resend, an `ack`."""
        frame = await self.expect(
            ("message", "ack"), lambda f: f.get("client_id") == client_id, timeout, keep=True
        )
        if frame["type"] == "ack":
            self._unread.remove(frame)
        return frame

    async def expect_nothing(
        self,
        kind: str,
        seconds: float = 0.5,
        where: Callable[[dict[str, Any]], bool] = lambda f: True,
    ) -> None:
        """No NEW frame of this type arrives within `seconds` (earlier ones don't count)."""
        assert self.ws is not None
        try:
            async with asyncio.timeout(seconds):
                while True:
                    frame = json.loads(await self.ws.recv())
                    self.frames.append(frame)
                    self._unread.append(frame)
                    if frame["type"] == kind and where(frame):
                        raise AssertionError(f"unexpected {kind} frame: {frame}")
        except TimeoutError:
            return

    def forget(self) -> None:
        """Ignore frames received so far: the next `expect` waits for a new one."""
        self._unread.clear()

    def seen(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def drop(self) -> None:
        """The network goes away: forget the socket without a clean close."""
        if self.ws is not None:
            self.ws.transport.abort()
        self.ws = None
        self._unread.clear()


class Customer(Peer):
    path = "/ws/widget"

    def __init__(self, desk: LiveDesk, token: str | None = None, site: str | None = None) -> None:
        super().__init__(desk)
        self.token = token
        self.site = site  # the host page the widget is embedded in
        self.last_seq = 0
        self.chat_id: int | None = None

    async def connect(self) -> dict[str, Any]:
        await self.open()
        await self.send(
            {"type": "hello", "token": self.token, "last_seq": self.last_seq, "site": self.site}
        )
        welcome = await self.expect("welcome")
        self.token = welcome["token"]
        return welcome

    async def start_chat(
        self,
        service_id: int = 1,
        message: str = "Hi, my invoice is wrong",
        name: str = "Ana",
        email: str | None = "ana@example.com",
        subject: str = "",
    ) -> dict[str, Any]:
        await self.send(
            {
                "type": "start_chat",
                "service_id": service_id,
                "name": name,
                "email": email,
                "subject": subject,
                "message": message,
            }
        )
        chat = (await self.expect("chat"))["chat"]
        self.chat_id = chat["id"]
        return chat

    async def say(self, body: str, client_id: str | None = None) -> dict[str, Any]:
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "message", "client_id": client_id, "body": body})
        stored = await self.stored(client_id)
        self.last_seq = max(self.last_seq, stored["seq"])
        return stored

    async def message(self, body: str) -> dict[str, Any]:
        frame = await self.expect("message", lambda f: f["body"] == body)
        self.last_seq = max(self.last_seq, frame["seq"])
        return frame

    def http(self) -> httpx.AsyncClient:
        """HTTP as the widget makes it: the customer token in a header, no cookies."""
        assert self.token is not None  # set by welcome
        headers = {"X-Chatdesk-Token": self.token}
        if self.site:
            headers["X-Chatdesk-Site"] = self.site
        return httpx.AsyncClient(base_url=self.desk.base_url, headers=headers)

    async def send_file(
        self, content: bytes, filename: str, client_id: str | None = None
    ) -> httpx.Response:
        async with self.http() as http:
            return await send_file(http, self.chat_id, content, filename, client_id)


class AgentConsole(Peer):
    path = "/ws/console"

    def __init__(self, desk: LiveDesk, agent: Agent, cookies: httpx.Cookies) -> None:
        super().__init__(desk)
        self.agent = agent
        self.cookies = cookies

    async def connect(self, seen: dict[int, int] | None = None) -> dict[str, Any]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        await self.open({"Cookie": cookie})
        await self.send({"type": "hello", "chats": {str(k): v for k, v in (seen or {}).items()}})
        return await self.expect("welcome")

    async def go_online(self) -> None:
        await self.send({"type": "presence", "status": "online"})
        await self.expect("presence", lambda f: f["status"] == "online")

    async def next_offer(self, chat_id: int | None = None) -> dict[str, Any]:
        return await self.expect("offer", lambda f: chat_id is None or f["chat"]["id"] == chat_id)

    async def take(self, customer: Customer, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The customer starts a chat (`Customer.start_chat`'s arguments) and this agent
        is offered it and accepts. Returns the chat as the customer got it."""
        chat = await customer.start_chat(*args, **kwargs)
        await self.next_offer(chat["id"])
        await self.accept(chat["id"])
        return chat

    async def accept(self, chat_id: int) -> dict[str, Any]:
        await self.send({"type": "accept", "chat_id": chat_id})
        return await self.expect(
            "chat", lambda f: f["chat"]["id"] == chat_id and f["chat"]["state"] == "active"
        )

    async def say(self, chat_id: int, body: str) -> dict[str, Any]:
        client_id = uuid.uuid4().hex
        await self.send(
            {"type": "message", "chat_id": chat_id, "client_id": client_id, "body": body}
        )
        return await self.stored(client_id)

    async def end(self, chat_id: int, status: str = "resolved") -> None:
        await self.send({"type": "end_chat", "chat_id": chat_id, "status": status})
        await self.expect("ended", lambda f: f["chat_id"] == chat_id)

    def http(self) -> httpx.AsyncClient:
        """HTTP as the console makes it: the session cookie and the CSRF header."""
        return httpx.AsyncClient(
            base_url=self.desk.base_url,
            cookies=self.cookies,
            headers={"X-CSRF-Token": self.cookies["chatdesk_csrf"]},
        )

    async def send_file(
        self, chat_id: int, content: bytes, filename: str, client_id: str | None = None
    ) -> httpx.Response:
        async with self.http() as http:
            return await send_file(http, chat_id, content, filename, client_id)


async def send_file(
    http: httpx.AsyncClient,
    chat_id: int | None,
    content: bytes,
    filename: str,
    client_id: str | None = None,
) -> httpx.Response:
    """POST one file into a chat as the widget and the console do (multipart)."""
    data = {"client_id": client_id} if client_id else None
    return await http.post(
        f"/api/chats/{chat_id}/attachments",
        files={"file": (filename, content, "application/octet-stream")},
        data=data,
    )


@asynccontextmanager
async def start_desk(
    database_url: str,
    redis_url: str | None,
    bus_prefix: str,
    clock: FakeClock | None = None,
    seed: bool = True,
    **overrides: Any,
) -> AsyncIterator[LiveDesk]:
    port = free_port()
    clock = clock or FakeClock(WEDNESDAY_MORNING)
    settings = Settings.from_env(
        {},
        database_url=database_url,
        redis_url=redis_url,
        bus_prefix=bus_prefix,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        secret_key="test-secret-" + bus_prefix,
        **overrides,
    )
    app = create_app(settings, clock, run_timers=False)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            # The app's own frame_too_large answer is tested, so uvicorn lets larger in.
            **{**websocket_options(settings), "ws_max_size": settings.max_frame_bytes * 4},
        )
    )
    server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(15):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    runtime: Runtime = app.state.runtime
    if seed:
        async with transaction(runtime.sessions) as session:
            await seed_services(session)
        await runtime.hub.refresh_desk()
    live = LiveDesk(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", runtime, clock, server)
    try:
        yield live
    finally:
        for ws in live._sockets:
            ws.transport.abort()
        server.should_exit = True
        async with asyncio.timeout(15):
            await task


@asynccontextmanager
async def start_two_desks(
    database_url: str, redis_url: str | None, bus_prefix: str, **overrides: Any
) -> AsyncIterator[tuple[LiveDesk, LiveDesk]]:
    """Two app instances on one database and one bus, as two processes of a deployment
    are: the second shares the first one's clock and seeds nothing."""
    async with (
        start_desk(database_url, redis_url, bus_prefix, **overrides) as one,
        start_desk(
            database_url, redis_url, bus_prefix, clock=one.clock, seed=False, **overrides
        ) as two,
    ):
        yield one, two


@contextmanager
def statements_sent(desk: LiveDesk, keep: Callable[[str], bool]) -> Iterator[list[str]]:
    """Every statement the desk's engine sends that `keep` accepts, as the database sees it."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if keep(statement):
            seen.append(statement)

    engine = desk.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def listening(listener: events.Listener) -> Iterator[None]:
    """`listener` hears the domain events emitted inside the block, and only those."""
    events.listen(listener)
    try:
        yield
    finally:
        events.forget(listener)
