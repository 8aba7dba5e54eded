"""The load generator: customers arrive, agent bots take their chats, both sides talk.

One schedule, two protocols. The conversation logic (when each customer arrives,
when each side sends which message, when a chat ends and the survey is answered)
lives in `LoadGen` and is the same for every target; a `Driver` only turns those
steps into frames: `ChatdeskDriver` speaks docs/protocol.md (widget `hello`,
`start_chat`, `message`, `rate`; console login, `hello`, `presence`, `offer` →
`accept`, `message`, `end_chat`), `RelayDriver` speaks the baseline relay's pairing
frame. So the baseline and Chatdesk see the same arrivals and the same messages at
the same instants, and every latency is measured by the same code.

Latency is end-to-end: from just before the sender's `send()` to the moment the
frame is read on the *other* side's socket, both stamped with one `perf_counter`
in this process. Sends are open-loop (a fixed schedule, never waiting for the
previous message), so a slow server shows up as latency instead of hiding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from bench import event_loop
from bench.metrics import GcPauses, Sampler, percentile

Side = Literal["customer", "agent"]
SIDES: tuple[Side, Side] = ("customer", "agent")
OPEN_TIMEOUT_SECONDS = 30.0
# The real clients' keep-alive (static/lib/socket.js): the server closes a silent socket.
PING_SECONDS = 25.0
MAX_FRAME_BYTES = 1 << 20
# After a sweep, chats end at least this many a second (bench.conversions: ~250/s).
MIN_ENDING_RATE = 100.0


async def keep_alive(ws: ClientConnection) -> None:
    """The widget's and console's application `ping` every 25 s, for a socket that has no
    other reason to speak; the first one at a random point, as many clients start at once."""
    with contextlib.suppress(ConnectionClosed):
        await asyncio.sleep(random.uniform(0, PING_SECONDS))
        while True:
            await ws.send('{"type":"ping"}')
            await asyncio.sleep(PING_SECONDS)


LOREM = (
    "Hello, I have a question about my last invoice and the plan we are on, "
    "could you please check what happened with the payment this month? "
)


@dataclass(frozen=True)
class Profile:
    """What the generator does: `chats` customers arriving at `arrival_rate` per second,
    `agents` bots, each side sending `messages_per_side` messages `message_interval` apart."""

    name: str
    chats: int
    agents: int
    arrival_rate: float
    messages_per_side: int
    message_interval: float
    body_chars: int = 80
    # How long one step (arrive → assigned, last message → rated) may take before the
    # chat counts as failed; the whole run is bounded by `planned_seconds + grace`.
    step_timeout: float = 60.0
    grace_seconds: float = 90.0
    # A rate sweep: (offered msgs/s, seconds) steps, run one after another by every chat
    # once all have arrived; `messages_per_side` and `message_interval` are then derived.
    steps: tuple[tuple[float, float], ...] = ()
    # A sweep's first step starts this long after the last customer arrived (assignment
    # takes longer on a busy machine and on PostgreSQL: arrivals must not spill into it).
    settle_seconds: float = 5.0

    @classmethod
    def sweep(
        cls,
        rates: list[float],
        step_seconds: float,
        chats: int = 200,
        agents: int = 20,
        arrival_rate: float = 40.0,
        settle_seconds: float = 5.0,
    ) -> Profile:
        """The same open chats at one offered rate after another: where does p99 break?"""
        steps = tuple((float(r), float(step_seconds)) for r in rates)
        per_side = sum(_step_sends(rate, secs) for rate, secs in steps)
        return cls(
            "sweep",
            chats,
            agents,
            arrival_rate,
            math.ceil(per_side / chats),
            2 * chats / steps[0][0],
            step_timeout=45.0,
            # Every chat ends after the last step, in turn: give the endings time.
            grace_seconds=60.0 + chats / max(arrival_rate, MIN_ENDING_RATE),
            steps=steps,
            settle_seconds=settle_seconds,
        )

    @property
    def sweep_start(self) -> float:
        """Seconds after the first arrival when a sweep's first step begins: every chat has
        arrived and had a few seconds to be assigned."""
        return self.chats / self.arrival_rate + self.settle_seconds

    def send_offsets(self, index: int, side: Side) -> list[float]:
        """When one side of chat `index` sends, in seconds after it starts talking (for a
        sweep: after `sweep_start`).

        A sweep step offers exactly its rate, evenly: each side's sends in the step are
        `rate × seconds ÷ 2` slots spaced equally, dealt to the chats in turn (continuing
        where the previous step stopped, so no chat is always left out when there are
        fewer slots than chats). The agent's slots sit half a slot after the customer's
        and are dealt half a round later: an answer, not an echo. A chat may send
        several times in a step, once, or not at all.
        """
        if not self.steps:
            half = self.message_interval / 2 if side == "agent" else 0.0
            return [half + k * self.message_interval for k in range(self.messages_per_side)]
        offsets: list[float] = []
        step_start = 0.0
        dealt = 0  # slots dealt in earlier steps
        shift, later = (0.75, self.chats // 2) if side == "agent" else (0.25, 0)
        for rate, secs in self.steps:
            slots = _step_sends(rate, secs)
            first = (index - dealt - later) % self.chats
            offsets += [
                step_start + (j + shift) * secs / slots for j in range(first, slots, self.chats)
            ]
            step_start += secs
            dealt += slots
        return offsets

    @property
    def ending_rate(self) -> float:
        """Chats ending per second after a sweep: in turn, as they arrived, but at least
        `MIN_ENDING_RATE` so a big sweep does not end slower than it ran."""
        return max(self.arrival_rate, MIN_ENDING_RATE)

    @property
    def sweep_end(self) -> float:
        """Seconds after the first arrival when a sweep's last step ends."""
        return self.sweep_start + sum(secs for _, secs in self.steps)

    @property
    def capacity(self) -> int:
        """Every chat can be open at once: the profile measures messaging, not queueing."""
        return math.ceil(self.chats / self.agents)

    @property
    def planned_seconds(self) -> float:
        if self.steps:
            return self.sweep_end
        return self.chats / self.arrival_rate + self.messages_per_side * self.message_interval

    @property
    def offered_msgs_per_second(self) -> float:
        """Messages sent per second while every chat is open (both directions)."""
        return 2 * self.chats / self.message_interval

    def describe(self) -> str:
        if self.steps:
            rates = ", ".join(f"{rate:g}" for rate, _ in self.steps)
            return (
                f"{self.chats} chats arriving at {self.arrival_rate:g}/s, {self.agents} agents "
                f"(capacity {self.capacity}); then all chats talk at {rates} msgs/s (both "
                f"directions), {self.steps[0][1]:g} s each, {self.body_chars}-char bodies"
            )
        return (
            f"{self.chats} chats arriving at {self.arrival_rate:g}/s, {self.agents} agents "
            f"(capacity {self.capacity}), {self.messages_per_side} messages each way per chat "
            f"every {self.message_interval:g} s ({self.offered_msgs_per_second:g} msgs/s "
            f"at full load), {self.body_chars}-char bodies"
        )


def _step_sends(rate: float, seconds: float) -> int:
    """Messages one side sends in a sweep step, all chats together (half the rate)."""
    return max(1, round(seconds * rate / 2))


PROFILES: dict[str, Profile] = {
    # < 3 minutes for baseline + Chatdesk together, server start included: ~40 s of
    # schedule each, and a server that falls behind is cut off 60 s after that.
    "short": Profile("short", 200, 20, 20.0, 30, 1.0, step_timeout=45.0, grace_seconds=60.0),
    # 5,000 open chats, 2,000 msgs/s; needs more than 2 cores and ~15 minutes.
    "long": Profile("long", 5000, 250, 50.0, 60, 5.0, step_timeout=120.0, grace_seconds=300.0),
}


@dataclass(eq=False)
class AgentBot:
    index: int
    load: int = 0
    last_assigned: float = -math.inf
    ws: ClientConnection | None = None
    chats: dict[int, ChatRun] = field(default_factory=dict)  # by server chat id
    welcome: asyncio.Event = field(default_factory=asyncio.Event)
    online: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class ChatRun:
    """One customer's chat as the generator sees it; every timestamp is `perf_counter()`."""

    index: int
    name: str
    arrive_at: float  # seconds after the run's start
    rating: int
    started: float = math.nan  # the customer starts connecting
    offered: float = math.nan  # an agent bot got the offer
    assigned: float = math.nan  # the customer was told an agent took it
    agent_talking: float = math.nan
    end_requested: float = math.nan
    bot: AgentBot | None = None
    server_id: int | None = None
    stage: str = "waiting to arrive"
    failure: str | None = None
    done: bool = False
    sent: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SIDES})
    delivered: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SIDES})
    expected: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SIDES})
    welcome: asyncio.Event = field(default_factory=asyncio.Event)
    is_assigned: asyncio.Event = field(default_factory=asyncio.Event)
    agent_ready: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    agent_ended: asyncio.Event = field(default_factory=asyncio.Event)
    survey: asyncio.Event = field(default_factory=asyncio.Event)
    rated: asyncio.Event = field(default_factory=asyncio.Event)
    got_all: dict[str, asyncio.Event] = field(
        default_factory=lambda: {s: asyncio.Event() for s in SIDES}
    )

    def fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why


class Driver(ABC):
    """Turns the generator's steps into one protocol's frames, and frames back into events."""

    name: str
    gen: LoadGen

    @abstractmethod
    async def start(self, gen: LoadGen) -> None:
        """Connect whatever must exist before the first customer (agent consoles)."""

    @abstractmethod
    async def open_chat(self, chat: ChatRun, first_message: str) -> None:
        """The customer connects and asks for a chat (returns once the request is sent)."""

    @abstractmethod
    async def accept(self, chat: ChatRun) -> None:
        """The offered agent bot takes the chat; the driver sets `chat.agent_ready`."""

    @abstractmethod
    async def send(self, chat: ChatRun, side: Side, client_id: str, body: str) -> None: ...

    @abstractmethod
    async def end(self, chat: ChatRun) -> None:
        """The agent ends the chat as resolved; the driver sets `chat.agent_ended`."""

    @abstractmethod
    async def rate(self, chat: ChatRun) -> None: ...

    @abstractmethod
    async def close_chat(self, chat: ChatRun) -> None:
        """The customer leaves (and, for the relay, the chat's agent socket closes)."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def connections(self) -> int:
        """Sockets open right now (for memory per connection)."""


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


async def _read_loop(
    ws: ClientConnection, on_frame: Callable[[dict[str, Any], float], None]
) -> None:
    """Stamp every frame the moment it is read, before parsing: that is the delivery time."""
    try:
        async for raw in ws:
            t = time.perf_counter()
            on_frame(json.loads(raw), t)
    except ConnectionClosed:
        pass


class _Sockets:
    """Open client sockets, their reader tasks, and how many there are."""

    def __init__(self, url: str, compression: str | None, keepalive: bool = False) -> None:
        self.url = url
        self.compression = compression
        # Chatdesk closes a socket silent for WS_IDLE_SECONDS; its clients ping every 25 s.
        self.keepalive = keepalive
        self.open = 0
        self.readers: set[asyncio.Task[None]] = set()

    async def connect(
        self,
        path: str,
        on_frame: Callable[[dict[str, Any], float], None],
        origin: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> ClientConnection:
        ws = await connect(
            self.url + path,
            origin=origin,  # type: ignore[arg-type]
            additional_headers=headers or {},
            open_timeout=OPEN_TIMEOUT_SECONDS,
            max_size=MAX_FRAME_BYTES,
            compression=self.compression,  # type: ignore[arg-type]
        )
        self.open += 1
        task = asyncio.create_task(self._read(ws, on_frame))
        self.readers.add(task)
        task.add_done_callback(self.readers.discard)
        return ws

    async def _read(
        self, ws: ClientConnection, on_frame: Callable[[dict[str, Any], float], None]
    ) -> None:
        pinger = asyncio.create_task(keep_alive(ws)) if self.keepalive else None
        try:
            await _read_loop(ws, on_frame)
        finally:
            self.open -= 1
            if pinger is not None:
                pinger.cancel()

    async def close_all(self, sockets: list[ClientConnection]) -> None:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        readers = list(self.readers)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


# ----------------------------------------------------------------- baseline relay
class RelayDriver(Driver):
    """The relay's tiny protocol. Routing happens here (the relay routes nothing): least
    loaded bot first, ties to the one idle longest, like Chatdesk's strategy."""

    name = "baseline"

    def __init__(self, url: str, compression: str | None = "deflate") -> None:
        self.sockets = _Sockets(url, compression)
        self.customer_ws: dict[ChatRun, ClientConnection] = {}
        self.agent_ws: dict[ChatRun, ClientConnection] = {}
        self.waiting: deque[ChatRun] = deque()

    async def start(self, gen: LoadGen) -> None:
        self.gen = gen

    def connections(self) -> int:
        return self.sockets.open

    async def open_chat(self, chat: ChatRun, first_message: str) -> None:
        ws = await self.sockets.connect("/", lambda f, t: self._customer_frame(chat, f, t))
        self.customer_ws[chat] = ws
        await ws.send(dumps({"pair": chat.index, "role": "customer", "message": first_message}))
        self.waiting.append(chat)
        self._route()

    def _route(self) -> None:
        capacity = self.gen.profile.capacity
        while self.waiting:
            free = [b for b in self.gen.bots if b.load < capacity]
            if not free:
                return
            bot = min(free, key=lambda b: (b.load, b.last_assigned, b.index))
            chat = self.waiting.popleft()
            bot.load += 1
            bot.last_assigned = time.perf_counter()
            self.gen.offered(chat, bot, time.perf_counter())

    async def accept(self, chat: ChatRun) -> None:
        ws = await self.sockets.connect("/", lambda f, t: self._agent_frame(chat, f, t))
        self.agent_ws[chat] = ws
        await ws.send(dumps({"pair": chat.index, "role": "agent"}))
        await ws.send(dumps({"type": "assigned", "chat_id": chat.index}))
        chat.agent_ready.set()

    async def send(self, chat: ChatRun, side: Side, client_id: str, body: str) -> None:
        ws = self.customer_ws[chat] if side == "customer" else self.agent_ws[chat]
        await ws.send(
            dumps({"type": "message", "client_id": client_id, "sender": side, "body": body})
        )

    async def end(self, chat: ChatRun) -> None:
        ws = self.agent_ws[chat]
        await ws.send(dumps({"type": "ended", "chat_id": chat.index}))
        await ws.send(dumps({"type": "survey", "chat_id": chat.index}))
        chat.agent_ended.set()
        if chat.bot is not None:
            chat.bot.load -= 1
        self._route()

    async def rate(self, chat: ChatRun) -> None:
        await self.customer_ws[chat].send(dumps({"type": "rate", "rating": chat.rating}))

    async def close_chat(self, chat: ChatRun) -> None:
        for sockets in (self.customer_ws, self.agent_ws):
            ws = sockets.pop(chat, None)
            if ws is not None:
                await ws.close()

    async def stop(self) -> None:
        await self.sockets.close_all([*self.customer_ws.values(), *self.agent_ws.values()])

    def _customer_frame(self, chat: ChatRun, frame: dict[str, Any], t: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            self.gen.delivered(frame["client_id"], "customer", t)
        elif kind == "assigned":
            self.gen.assigned(chat, t)
        elif kind == "ended":
            chat.ended.set()
        elif kind == "survey":
            chat.survey.set()
        elif kind == "rated":
            chat.rated.set()

    def _agent_frame(self, chat: ChatRun, frame: dict[str, Any], t: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            self.gen.delivered(frame["client_id"], "agent", t)
        elif kind == "rate":
            # What Chatdesk's server answers; here the other client has to.
            ws = self.agent_ws.get(chat)
            if ws is not None:
                self.gen.spawn(ws.send(dumps({"type": "rated", "rating": frame["rating"]})))


class FloorDriver(RelayDriver):
    """bench/floor_relay.py: the relay's protocol, but a message also comes back to its
    sender (stored, with its number); that echo is the sender's confirmation, not a
    delivery."""

    name = "floor"

    def _customer_frame(self, chat: ChatRun, frame: dict[str, Any], t: float) -> None:
        if frame.get("type") == "message" and frame.get("sender") == "customer":
            return
        super()._customer_frame(chat, frame, t)

    def _agent_frame(self, chat: ChatRun, frame: dict[str, Any], t: float) -> None:
        if frame.get("type") == "message" and frame.get("sender") == "agent":
            return
        super()._agent_frame(chat, frame, t)


# ----------------------------------------------------------------- Chatdesk
def login(base_url: str, email: str, password: str) -> str:
    """`POST /api/auth/login` → the `chatdesk_session` cookie (blocking; run in a thread)."""
    request = urllib.request.Request(
        base_url + "/api/auth/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json", "Origin": base_url},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == "chatdesk_session":
                return rest.split(";", 1)[0]
    raise RuntimeError(f"login of {email} set no session cookie")


class ChatdeskDriver(Driver):
    """docs/protocol.md, as the widget and the console speak it."""

    name = "chatdesk"

    def __init__(
        self,
        base_url: str,
        ws_url: str,
        service_id: int,
        logins: list[tuple[str, str]],
        compression: str | None = "deflate",
        widget_urls: tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self.service_id = service_id
        self.logins = logins
        self.sockets = _Sockets(ws_url, compression, keepalive=True)
        # Customers on another server process than the consoles (base URL, ws URL): every
        # chat then crosses processes, through the bus.
        self.widget_base_url, widget_ws = widget_urls or (base_url, ws_url)
        self.widget_sockets = (
            _Sockets(widget_ws, compression, keepalive=True) if widget_urls else self.sockets
        )
        self.customer_ws: dict[ChatRun, ClientConnection] = {}
        self.consoles: list[ClientConnection] = []

    def connections(self) -> int:
        extra = self.widget_sockets.open if self.widget_sockets is not self.sockets else 0
        return self.sockets.open + extra

    async def start(self, gen: LoadGen) -> None:
        self.gen = gen
        if len(self.logins) < len(gen.bots):
            raise RuntimeError("fewer agent logins than agent bots")
        limit = asyncio.Semaphore(4)  # argon2 on the server: don't queue 250 logins at once

        async def one(bot: AgentBot) -> None:
            email, password = self.logins[bot.index]
            async with limit:
                cookie = await asyncio.to_thread(login, self.base_url, email, password)
            bot.ws = await self.sockets.connect(
                "/ws/console",
                lambda f, t: self._console_frame(bot, f, t),
                origin=self.base_url,
                headers={"Cookie": f"chatdesk_session={cookie}"},
            )
            self.consoles.append(bot.ws)
            await bot.ws.send(dumps({"type": "hello", "chats": {}}))
            await asyncio.wait_for(bot.welcome.wait(), OPEN_TIMEOUT_SECONDS)
            await bot.ws.send(dumps({"type": "presence", "status": "online"}))
            await asyncio.wait_for(bot.online.wait(), OPEN_TIMEOUT_SECONDS)

        await asyncio.gather(*(one(bot) for bot in gen.bots))
        # The desk view (which services have someone online) refreshes on a short debounce.
        await asyncio.sleep(0.5)

    async def open_chat(self, chat: ChatRun, first_message: str) -> None:
        ws = await self.widget_sockets.connect(
            "/ws/widget",
            lambda f, t: self._widget_frame(chat, f, t),
            origin=self.widget_base_url,
        )
        self.customer_ws[chat] = ws
        await ws.send(dumps({"type": "hello", "token": None}))
        chat.stage = "waiting for welcome"
        await chat.welcome.wait()
        await ws.send(
            dumps(
                {
                    "type": "start_chat",
                    "service_id": self.service_id,
                    "name": chat.name,
                    "email": f"{chat.name}@bench.test",
                    "subject": "Load test",
                    "message": first_message,
                }
            )
        )

    async def accept(self, chat: ChatRun) -> None:
        assert chat.bot is not None and chat.bot.ws is not None
        await chat.bot.ws.send(dumps({"type": "accept", "chat_id": chat.server_id}))

    async def send(self, chat: ChatRun, side: Side, client_id: str, body: str) -> None:
        if side == "customer":
            await self.customer_ws[chat].send(
                dumps({"type": "message", "client_id": client_id, "body": body})
            )
            return
        assert chat.bot is not None and chat.bot.ws is not None
        await chat.bot.ws.send(
            dumps(
                {"type": "message", "chat_id": chat.server_id, "client_id": client_id, "body": body}
            )
        )

    async def end(self, chat: ChatRun) -> None:
        assert chat.bot is not None and chat.bot.ws is not None
        await chat.bot.ws.send(
            dumps({"type": "end_chat", "chat_id": chat.server_id, "status": "resolved"})
        )

    async def rate(self, chat: ChatRun) -> None:
        await self.customer_ws[chat].send(dumps({"type": "rate", "rating": chat.rating}))

    async def close_chat(self, chat: ChatRun) -> None:
        ws = self.customer_ws.pop(chat, None)
        if ws is not None:
            await ws.close()

    async def stop(self) -> None:
        await self.sockets.close_all([*self.customer_ws.values(), *self.consoles])
        if self.widget_sockets is not self.sockets:
            await self.widget_sockets.close_all([])

    def _widget_frame(self, chat: ChatRun, frame: dict[str, Any], t: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            if frame.get("sender") == "agent" and frame.get("client_id"):
                self.gen.delivered(frame["client_id"], "customer", t)
            elif frame.get("sender") == "customer" and frame.get("client_id"):
                self.gen.acked(frame["client_id"], t)  # our own line's echo confirms it
        elif kind == "ack":
            self.gen.acked(frame.get("client_id"), t)
        elif kind == "assigned":
            self.gen.assigned(chat, t)
        elif kind == "welcome":
            chat.welcome.set()
        elif kind == "chat":
            if chat.server_id is None:
                chat.server_id = int(frame["chat"]["id"])
        elif kind == "ended":
            chat.ended.set()
        elif kind == "survey":
            chat.survey.set()
        elif kind == "rated":
            chat.rated.set()
        elif kind == "error":
            self.gen.error(frame.get("code"), chat)

    def _console_frame(self, bot: AgentBot, frame: dict[str, Any], t: float) -> None:
        kind = frame.get("type")
        if kind == "message":
            if frame.get("sender") == "customer" and frame.get("client_id"):
                self.gen.delivered(frame["client_id"], "agent", t)
            elif frame.get("sender") == "agent" and frame.get("client_id"):
                self.gen.acked(frame["client_id"], t)  # our own line's echo confirms it
        elif kind == "ack":
            self.gen.acked(frame.get("client_id"), t)
        elif kind == "offer":
            snapshot = frame["chat"]
            chat = self.gen.by_name.get(snapshot["customer"]["name"])
            if chat is not None and chat.bot is None:
                chat.server_id = int(snapshot["id"])
                bot.chats[chat.server_id] = chat
                bot.load += 1
                self.gen.offered(chat, bot, t)
        elif kind == "chat":
            snapshot = frame["chat"]
            chat = bot.chats.get(int(snapshot["id"]))
            if chat is not None and snapshot["state"] == "active":
                chat.agent_ready.set()
        elif kind == "ended":
            chat = bot.chats.get(int(frame["chat_id"]))
            if chat is not None:
                chat.agent_ended.set()
                bot.load -= 1
        elif kind == "welcome":
            bot.welcome.set()
        elif kind == "presence":
            if frame.get("status") == "online":
                bot.online.set()
        elif kind == "error":
            self.gen.error(frame.get("code"), None)


# ----------------------------------------------------------------- the schedule
@dataclass
class StepResult:
    """One rate of a sweep, measured over the step's own window."""

    offered: float
    seconds: float
    sent: int
    delivered_in_window: int
    latencies_ms: list[float]
    server_cpu_s: float
    generator_cpu_s: float

    @property
    def delivered_per_second(self) -> float:
        return self.delivered_in_window / self.seconds if self.seconds else 0.0

    def latency(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    @property
    def cpu_us_per_message(self) -> float:
        if not self.delivered_in_window:
            return float("nan")
        return self.server_cpu_s * 1e6 / self.delivered_in_window

    @property
    def server_cpu_percent(self) -> float:
        return 100 * self.server_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def generator_cpu_percent(self) -> float:
        return 100 * self.generator_cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class RunResult:
    """Everything one run measured; `bench.run` turns two of these into the table."""

    target: str
    profile: Profile
    chats: list[ChatRun]
    latencies_ms: list[float]
    ack_latencies_ms: list[float]
    acked_ids: set[str]
    sent: int
    delivered: int
    redelivered: int
    unknown: int
    errors: Counter[str]
    window: tuple[float, float]
    window_kind: str
    delivered_in_window: int
    server_cpu_window_s: float
    server_main_thread_cpu_window_s: float
    server_cpu_total_s: float
    generator_cpu_window_s: float
    rss_idle_kb: int
    rss_peak_kb: int
    connections_at_peak: int
    duration_s: float
    verification: dict[str, Any] | None = None
    steps: list[StepResult] = field(default_factory=list)
    # Two-process runs: CPU seconds in the steady window of each server process, and of a
    # redis-server the bench started (by name: "chatdesk-1", "chatdesk-2", "redis").
    process_cpu_window_s: dict[str, float] = field(default_factory=dict)
    # The generator's own full collections in the window, and its longest GC pause (s).
    generator_gc: tuple[int, float] = (0, 0.0)
    # What the generator held more at the end, its collector paused for the run (MiB).
    generator_held_mb: float = 0.0

    @property
    def window_seconds(self) -> float:
        return self.window[1] - self.window[0]

    def latency(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def ack_latency(self, p: float) -> float:
        """Send → its confirmation (its echo, or an `ack`): how long until it was durably stored."""
        return percentile(self.ack_latencies_ms, p)

    @property
    def delivered_per_second(self) -> float:
        return self.delivered_in_window / self.window_seconds if self.window_seconds else 0.0

    @property
    def cpu_us_per_message(self) -> float:
        """Server CPU in the steady window per message delivered in it."""
        if not self.delivered_in_window:
            return float("nan")
        return self.server_cpu_window_s * 1e6 / self.delivered_in_window

    @property
    def cpu_us_per_message_total(self) -> float:
        """All server CPU of the run (arrivals, routing, endings, tickets, surveys too)."""
        return self.server_cpu_total_s * 1e6 / self.delivered if self.delivered else float("nan")

    @property
    def server_cpu_percent(self) -> float:
        return 100 * self.server_cpu_window_s / self.window_seconds if self.window_seconds else 0.0

    @property
    def generator_cpu_percent(self) -> float:
        if not self.window_seconds:
            return 0.0
        return 100 * self.generator_cpu_window_s / self.window_seconds

    def assignment_ms(self, p: float) -> float:
        values = sorted(
            (c.offered - c.started) * 1000
            for c in self.chats
            if not math.isnan(c.offered) and not math.isnan(c.started)
        )
        return percentile(values, p)

    @property
    def rss_per_connection_kb(self) -> float:
        if not self.connections_at_peak:
            return float("nan")
        return (self.rss_peak_kb - self.rss_idle_kb) / self.connections_at_peak

    @property
    def completed(self) -> int:
        return sum(1 for c in self.chats if c.done)

    @property
    def failures(self) -> Counter[str]:
        return Counter(c.failure for c in self.chats if c.failure)

    @property
    def delivery_ok(self) -> bool:
        """Every message sent reached the other side (as the clients saw it)."""
        return self.delivered == self.sent and not self.failures


class LoadGen:
    """Runs one profile against one driver; the server's pid is only read, via /proc."""

    def __init__(
        self,
        profile: Profile,
        driver: Driver,
        server_pid: int,
        other_pids: dict[str, int] | None = None,
    ) -> None:
        self.profile = profile
        self.driver = driver
        self.bots = [AgentBot(i) for i in range(profile.agents)]
        run_tag = uuid.uuid4().hex[:6]
        self.chats = [
            ChatRun(i, f"bench-{run_tag}-{i}", i / profile.arrival_rate, 1 + i % 5)
            for i in range(profile.chats)
        ]
        self.by_name = {c.name: c for c in self.chats}
        for chat in self.chats:
            for receiver, sender in zip(SIDES, reversed(SIDES), strict=True):
                chat.expected[receiver] = len(profile.send_offsets(chat.index, sender))
                if not chat.expected[receiver]:
                    chat.got_all[receiver].set()
        self.sampler = Sampler(server_pid, driver.connections, other_pids=dict(other_pids or {}))
        self.gc_pauses = GcPauses()
        self.sent_at: dict[str, tuple[ChatRun, Side, float]] = {}
        self.delivered_ids: set[str] = set()
        self.acked_ids: set[str] = set()
        self.ack_latencies: list[float] = []
        self.latencies: list[float] = []
        self.sent_times: list[float] = []  # the send instant of each entry of `latencies`
        self.delivery_times: list[float] = []
        self.redelivered = 0
        self.unknown = 0
        self.errors: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.t0 = 0.0  # perf_counter() of the first arrival slot

    # -------------------------------------------------- events from the drivers
    def offered(self, chat: ChatRun, bot: AgentBot, t: float) -> None:
        chat.offered, chat.bot = t, bot
        self.spawn(self._agent_side(chat))

    def assigned(self, chat: ChatRun, t: float) -> None:
        if math.isnan(chat.assigned):
            chat.assigned = t
        chat.is_assigned.set()

    def delivered(self, client_id: str, receiver: Side, t: float) -> None:
        entry = self.sent_at.get(client_id)
        if entry is None:
            self.unknown += 1
            return
        chat, sender, sent = entry
        if sender == receiver:
            return
        if client_id in self.delivered_ids:
            # E.g. a message both pushed live and replayed on accept: clients drop it by seq.
            self.redelivered += 1
            return
        self.delivered_ids.add(client_id)
        self.latencies.append(t - sent)
        self.sent_times.append(sent)
        self.delivery_times.append(t)
        chat.delivered[receiver] += 1
        if chat.delivered[receiver] >= chat.expected[receiver]:
            chat.got_all[receiver].set()

    def acked(self, client_id: Any, t: float) -> None:
        """The server says the message is stored (Chatdesk only: the relay stores nothing)."""
        entry = self.sent_at.get(str(client_id))
        if entry is None or client_id in self.acked_ids:
            return
        self.acked_ids.add(str(client_id))
        self.ack_latencies.append(t - entry[2])

    def error(self, code: Any, chat: ChatRun | None) -> None:
        self.errors[str(code)] += 1

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -------------------------------------------------- the two sides of a chat
    def _body(self, chat: ChatRun, side: str, k: int) -> str:
        head = f"{side} {chat.index} #{k}: "
        n = self.profile.body_chars - len(head)
        return head + (LOREM * (n // len(LOREM) + 1))[: max(n, 1)]

    async def _wait(self, chat: ChatRun, stage: str, event: asyncio.Event) -> None:
        chat.stage = stage
        async with asyncio.timeout(self.profile.step_timeout):
            await event.wait()

    async def _talk(self, chat: ChatRun, side: Side) -> None:
        # The agent answers half an interval after the customer: a conversation. In a
        # sweep every chat follows one clock, so each step's rate is offered by all at once.
        start = self.t0 + self.profile.sweep_start if self.profile.steps else time.perf_counter()
        for k, offset in enumerate(self.profile.send_offsets(chat.index, side)):
            delay = start + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            client_id = uuid.uuid4().hex
            body = self._body(chat, side, k)
            self.sent_at[client_id] = (chat, side, time.perf_counter())
            chat.sent[side].append(client_id)
            await self.driver.send(chat, side, client_id, body)
        if self.profile.steps:
            # Nothing ends before the last step is over: a sweep measures messaging with
            # every chat open, and endings (with their tickets) would compete with it.
            # Then the chats end in turn, as they arrived, not all in one instant.
            end_at = self.profile.sweep_end + chat.index / self.profile.ending_rate
            delay = self.t0 + end_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _customer_side(self, chat: ChatRun) -> None:
        delay = self.t0 + chat.arrive_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        chat.started = time.perf_counter()
        try:
            chat.stage = "connecting"
            async with asyncio.timeout(self.profile.step_timeout):
                await self.driver.open_chat(chat, self._body(chat, "customer", -1))
            await self._wait(chat, "waiting for an agent", chat.is_assigned)
            chat.stage = "talking (customer)"
            await self._talk(chat, "customer")
            await self._wait(
                chat, "customer waiting for the agent's messages", chat.got_all["customer"]
            )
            await self._wait(chat, "waiting for ended", chat.ended)
            await self._wait(chat, "waiting for the survey", chat.survey)
            await self.driver.rate(chat)
            await self._wait(chat, "waiting for rated", chat.rated)
            chat.done = chat.failure is None
        except (TimeoutError, ConnectionClosed, OSError, InvalidStatus, InvalidURI) as exc:
            chat.fail(f"{chat.stage}: {type(exc).__name__}")
        finally:
            try:
                await self.driver.close_chat(chat)
            except (ConnectionClosed, OSError):
                pass

    async def _agent_side(self, chat: ChatRun) -> None:
        try:
            await self.driver.accept(chat)
            await self._wait(chat, "waiting for the accept", chat.agent_ready)
            chat.agent_talking = time.perf_counter()
            await self._talk(chat, "agent")
            await self._wait(
                chat, "agent waiting for the customer's messages", chat.got_all["agent"]
            )
            chat.end_requested = time.perf_counter()
            await self.driver.end(chat)
            await self._wait(chat, "agent waiting for ended", chat.agent_ended)
        except (TimeoutError, ConnectionClosed, OSError, InvalidStatus) as exc:
            chat.fail(f"agent: {chat.stage}: {type(exc).__name__}")

    # -------------------------------------------------- the run
    async def run(self) -> RunResult:
        # The collector waits for the end of the run: a collection here holds every read
        # behind it, and would be counted as the server's latency (bench/event_loop.py).
        with event_loop.collector_paused() as held:
            result = await self._run()
        result.generator_held_mb = held.mb
        return result

    async def _run(self) -> RunResult:
        profile = self.profile
        self.sampler.start()
        self.gc_pauses.start()
        idle = self.sampler.samples[0]
        started = time.perf_counter()
        try:
            await self.driver.start(self)
            self.t0 = time.perf_counter()
            customers = [asyncio.create_task(self._customer_side(c)) for c in self.chats]
            try:
                async with asyncio.timeout(profile.planned_seconds + profile.grace_seconds):
                    await asyncio.gather(*customers)
                    while self._tasks:
                        await asyncio.gather(*list(self._tasks), return_exceptions=True)
            except TimeoutError:
                for chat in self.chats:
                    if not chat.done:
                        chat.fail(f"run deadline: {chat.stage}")
            for task in [*customers, *self._tasks]:
                task.cancel()
            await asyncio.gather(*customers, *self._tasks, return_exceptions=True)
        finally:
            finished = time.perf_counter()
            self.gc_pauses.stop()
            await self.sampler.stop()
            await self.driver.stop()
        return self._result(idle.server_rss_kb, started, finished)

    def _steady_window(self) -> tuple[float, float, str]:
        """From the moment every chat was talking to the moment the first one began ending.

        That is the window where the server does nothing but messaging at the full
        offered rate; arrivals and endings are reported separately (total CPU/message).
        A sweep's window is its steps.
        """
        if self.profile.steps:
            t0 = self.t0 + self.profile.sweep_start
            return t0, t0 + sum(secs for _, secs in self.profile.steps), "sweep steps"
        talking = [c.agent_talking for c in self.chats if not math.isnan(c.agent_talking)]
        talking += [c.assigned for c in self.chats if not math.isnan(c.assigned)]
        ending = [c.end_requested for c in self.chats if not math.isnan(c.end_requested)]
        if talking and ending and len(talking) == 2 * len(self.chats):
            t0, t1 = max(talking), min(ending)
            if t1 - t0 >= 2.0:
                return t0, t1, "steady"
        sends = [t for (_, _, t) in self.sent_at.values()]
        if sends and self.delivery_times:
            return min(sends), max(self.delivery_times), "whole messaging phase"
        return 0.0, 0.0, "none"

    def _step_results(self) -> list[StepResult]:
        """Per sweep step: what was sent in it, delivered in it, and the CPU it took."""
        results = []
        start = self.t0 + self.profile.sweep_start
        for rate, secs in self.profile.steps:
            end = start + secs
            latencies = sorted(
                lat * 1000
                for sent, lat in zip(self.sent_times, self.latencies, strict=True)
                if start <= sent < end
            )
            results.append(
                StepResult(
                    offered=rate,
                    seconds=secs,
                    sent=sum(1 for (_, _, t) in self.sent_at.values() if start <= t < end),
                    delivered_in_window=sum(1 for t in self.delivery_times if start <= t < end),
                    latencies_ms=latencies,
                    server_cpu_s=self.sampler.server_cpu_between(start, end),
                    generator_cpu_s=self.sampler.self_cpu_between(start, end),
                )
            )
            start = end
        return results

    def _result(self, rss_idle: int, started: float, finished: float) -> RunResult:
        t0, t1, kind = self._steady_window()
        peak = self.sampler.peak_in(t0, t1)
        samples = self.sampler.samples
        return RunResult(
            target=self.driver.name,
            profile=self.profile,
            chats=self.chats,
            latencies_ms=sorted(x * 1000 for x in self.latencies),
            ack_latencies_ms=sorted(x * 1000 for x in self.ack_latencies),
            acked_ids=self.acked_ids,
            sent=len(self.sent_at),
            delivered=len(self.delivered_ids),
            redelivered=self.redelivered,
            unknown=self.unknown,
            errors=self.errors,
            window=(t0, t1),
            window_kind=kind,
            delivered_in_window=sum(1 for t in self.delivery_times if t0 <= t <= t1),
            server_cpu_window_s=self.sampler.server_cpu_between(t0, t1) if t1 > t0 else 0.0,
            server_main_thread_cpu_window_s=(
                self.sampler.server_main_thread_cpu_between(t0, t1) if t1 > t0 else 0.0
            ),
            server_cpu_total_s=samples[-1].server_cpu - samples[0].server_cpu,
            generator_cpu_window_s=self.sampler.self_cpu_between(t0, t1) if t1 > t0 else 0.0,
            rss_idle_kb=rss_idle,
            rss_peak_kb=peak.server_rss_kb if peak else rss_idle,
            connections_at_peak=peak.connections if peak else 0,
            duration_s=finished - started,
            steps=self._step_results(),
            generator_gc=self.gc_pauses.between(t0, t1),
            process_cpu_window_s={
                name: self.sampler.other_cpu_between(name, t0, t1) if t1 > t0 else 0.0
                for name in self.sampler.other_pids
            },
        )
