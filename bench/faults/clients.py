"""Clients that survive what the scenarios do to them, and remember what they showed.

A fault scenario is judged from the clients' view, as a person at either end would
judge it: what did my screen show, in which order, did anything I sent vanish, did
anything appear twice? So each client here behaves like the real widget and console
(docs/protocol.md): it shows each `seq` once, asks for a gap with `fetch`, resumes
with its token and last seen `seq` after any disconnect, and resends every message
the server has not acknowledged with the same `client_id` until it is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.faults.cluster import Cluster
from bench.loadgen import PING_SECONDS, login

WELCOME_TIMEOUT_SECONDS = 10.0
RESEND_AFTER_SECONDS = 3.0
IDLE_RESYNC_SECONDS = 5.0


@dataclass
class View:
    """One side's screen for one chat: each `seq` shown once, in order, gaps fetched."""

    shown: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    last: int = 0
    buffer: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    seqs_of: dict[str, list[int]] = field(default_factory=dict)  # client_id → seqs shown
    redelivered: int = 0
    gaps: int = 0
    progressed_at: float = field(default_factory=time.perf_counter)

    def receive(self, seq: int, sender: str, client_id: str | None) -> bool:
        """Show what is next; True when a gap opened (the caller sends `fetch`)."""
        if seq <= self.last or seq in self.buffer:
            self.redelivered += 1  # pushed live and replayed, say: dropped by seq
            return False
        if seq == self.last + 1:
            self._show(seq, sender, client_id)
            while self.last + 1 in self.buffer:
                self._show(self.last + 1, *self.buffer.pop(self.last + 1))
            return False
        self.buffer[seq] = (sender, client_id)
        self.gaps += 1
        return True

    def _show(self, seq: int, sender: str, client_id: str | None) -> None:
        self.shown[seq] = (sender, client_id)
        self.last = seq
        self.progressed_at = time.perf_counter()
        if client_id is not None:
            self.seqs_of.setdefault(client_id, []).append(seq)

    def shown_ids(self, sender: str) -> list[str]:
        return [cid for _, (s, cid) in sorted(self.shown.items()) if s == sender and cid]


@dataclass
class Outgoing:
    body: str
    sent_at: float = 0.0  # last time it went out on a socket (0: not yet)
    failed: bool = False  # the server said it was not stored (database_unavailable)
    first_at: float = field(default_factory=time.perf_counter)


class Peer:
    """One socket that always comes back: reconnect, resume, resend unacknowledged."""

    role = "peer"

    def __init__(self, cluster: Cluster, home: int) -> None:
        self.cluster = cluster
        self.home = home % len(cluster.ports)
        self.ws: ClientConnection | None = None
        self.online = asyncio.Event()  # welcome received on the current socket
        self.wanted = asyncio.Event()  # False while the scenario holds the network down
        self.wanted.set()
        self.stopped = False
        self.reconnects = 0
        self.resume_seconds: list[float] = []
        self.welcome_seconds: list[float] = []
        self.close_codes: list[int | None] = []
        self.reconnect_started: float | None = None
        self.resume_target: dict[int, int] = {}
        self.pending: dict[int, OrderedDict[str, Outgoing]] = {}
        self.acked: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.views: dict[int, View] = {}
        self.sent_order: dict[int, list[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._resender: asyncio.Task[None] | None = None

    # -------------------------------------------------- subclasses
    async def _open(self, port_index: int) -> ClientConnection:
        raise NotImplementedError

    def _hello(self) -> dict[str, Any]:
        raise NotImplementedError

    def _frame(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    def _message_frame(self, chat_id: int, client_id: str, body: str) -> dict[str, Any]:
        raise NotImplementedError

    # -------------------------------------------------- life cycle
    def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        self._resender = asyncio.create_task(self._resend_loop())

    async def stop(self) -> None:
        self.stopped = True
        self.wanted.set()
        for task in (self._task, self._resender):
            if task is not None:
                task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        await asyncio.gather(
            *(t for t in (self._task, self._resender) if t), return_exceptions=True
        )

    async def drop(self, seconds: float) -> None:
        """The network goes away under the client (no close frame), then comes back."""
        self.wanted.clear()
        self.reconnect_started = None  # a resume cut short by this drop is not a resume
        self._abort()
        await asyncio.sleep(seconds)
        self.wanted.set()

    def _abort(self) -> None:
        self.online.clear()
        if self.ws is not None:
            self.ws.transport.abort()

    def view(self, chat_id: int) -> View:
        return self.views.setdefault(chat_id, View())

    async def _run(self) -> None:
        port_index = self.home
        first = True
        while not self.stopped:
            await self.wanted.wait()
            if not first and self.reconnect_started is None:
                self.reconnect_started = time.perf_counter()
            try:
                ws = await asyncio.wait_for(self._open(port_index), WELCOME_TIMEOUT_SECONDS)
            except (OSError, WebSocketException, TimeoutError):
                port_index = (port_index + 1) % len(self.cluster.ports)  # try the other one
                await asyncio.sleep(0.1 + random.random() * 0.2)
                continue
            self.ws = ws
            reader = asyncio.create_task(self._read(ws))
            try:
                await ws.send(json.dumps(self._hello()))
                await asyncio.wait_for(self.online.wait(), WELCOME_TIMEOUT_SECONDS)
            except (ConnectionClosed, TimeoutError, OSError):
                ws.transport.abort()
            else:
                if not first:
                    self.reconnects += 1
                first = False
            await asyncio.gather(reader, return_exceptions=True)
            self.close_codes.append(ws.close_code)
            self.online.clear()
            self.ws = None
            if self.stopped:
                return
            if self.wanted.is_set() and self.reconnect_started is None:
                self.reconnect_started = time.perf_counter()  # the server went away
            await asyncio.sleep(0.05 + random.random() * 0.1)

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            async for raw in ws:
                self._frame(json.loads(raw))

    def _welcomed(self) -> None:
        """Online again: first what was never acknowledged, in order, then anything new
        (done here, in the frame handler, so no new message can overtake an old one)."""
        if self.reconnect_started is not None:
            self.welcome_seconds.append(time.perf_counter() - self.reconnect_started)
        self.online.set()
        self._resend_all()
        self._caught_up()

    def _caught_up(self) -> None:
        """After a reconnect: resumed once every chat shows what the welcome said exists."""
        if self.reconnect_started is None or not self.online.is_set():
            return
        if all(self.view(c).last >= target for c, target in self.resume_target.items()):
            self.resume_seconds.append(time.perf_counter() - self.reconnect_started)
            self.reconnect_started = None
            self.resume_target = {}

    # -------------------------------------------------- sending
    def say(self, chat_id: int, client_id: str, body: str) -> None:
        self.pending.setdefault(chat_id, OrderedDict())[client_id] = Outgoing(body)
        self.sent_order.setdefault(chat_id, []).append(client_id)
        queue = self.pending[chat_id]
        # Behind a message the server could not store, a new one waits its turn: sent now
        # it could be stored first, and the chat would read out of order.
        if self.online.is_set() and not any(o.failed for o in queue.values()):
            self._send_one(chat_id, client_id)

    def _send_one(self, chat_id: int, client_id: str) -> None:
        out = self.pending[chat_id][client_id]
        out.sent_at = time.perf_counter()
        out.failed = False
        self.send(self._message_frame(chat_id, client_id, out.body))

    def send(self, frame: dict[str, Any]) -> None:
        ws = self.ws
        if ws is None or not self.online.is_set() and frame.get("type") != "hello":
            return
        task = asyncio.ensure_future(ws.send(json.dumps(frame)))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _resend_all(self) -> None:
        for chat_id, queue in self.pending.items():
            for client_id in list(queue):
                self._send_one(chat_id, client_id)

    async def _resend_loop(self) -> None:
        """Unacknowledged for a while (an error, a lost frame): send again, same client id.
        Also the keep-alive `ping` every 25 s, as the widget and the console send it."""
        pinged_at = time.perf_counter()
        while True:
            await asyncio.sleep(0.5)
            if not self.online.is_set():
                continue
            now = time.perf_counter()
            if now - pinged_at >= PING_SECONDS:
                self.send({"type": "ping"})
                pinged_at = now
            for chat_id, queue in self.pending.items():
                head = next(iter(queue.values()), None)
                if head is not None and now - head.sent_at > RESEND_AFTER_SECONDS:
                    for client_id in list(queue):  # in order, the whole tail
                        self._send_one(chat_id, client_id)
            for chat_id, view in self.views.items():
                if self._expects_more(chat_id) and now - view.progressed_at > IDLE_RESYNC_SECONDS:
                    view.progressed_at = now
                    self._fetch(chat_id, view.last)

    def _expects_more(self, chat_id: int) -> bool:
        return False

    def _fetch(self, chat_id: int, after: int) -> None:
        raise NotImplementedError

    def _on_ack(self, frame: dict[str, Any]) -> None:
        """Our message is stored: an `ack`, or the line's own echo (docs/protocol.md)."""
        client_id = str(frame.get("client_id"))
        chat_id = int(frame["chat_id"])
        self.acked[client_id] = int(frame["seq"])
        queue = self.pending.get(chat_id)
        if queue is not None:
            queue.pop(client_id, None)

    def _on_message(self, frame: dict[str, Any]) -> None:
        if frame.get("sender") == self.role and frame.get("client_id"):
            self._on_ack(frame)
        chat_id = int(frame["chat_id"])
        view = self.view(chat_id)
        if view.receive(int(frame["seq"]), str(frame["sender"]), frame.get("client_id")):
            self._fetch(chat_id, view.last)
        self._caught_up()

    def _on_error(self, frame: dict[str, Any]) -> None:
        code = str(frame.get("code"))
        self.errors[code] = self.errors.get(code, 0) + 1
        if code == "database_unavailable":
            ref = frame.get("ref")
            for queue in self.pending.values():
                if ref in queue:
                    # This one and everything sent after it go again, in order, in ~1 s.
                    tail = list(queue)[list(queue).index(ref) :]
                    for client_id in tail:
                        out = queue[client_id]
                        out.failed = True
                        out.sent_at = min(
                            out.sent_at, time.perf_counter() - RESEND_AFTER_SECONDS + 1
                        )


class Customer(Peer):
    """The widget: one customer, one chat."""

    role = "customer"

    def __init__(self, cluster: Cluster, home: int, name: str) -> None:
        super().__init__(cluster, home)
        self.name = name
        self.token: str | None = None
        self.chat_id: int | None = None
        self.agent_id: int | None = None
        self.assigned = asyncio.Event()
        self.ended = asyncio.Event()
        self.expected: int = 0  # how many agent messages there will be
        self.start_sent = False

    async def _open(self, port_index: int) -> ClientConnection:
        return await connect(
            self.cluster.ws_url(port_index) + "/ws/widget",
            origin=self.cluster.origin,  # type: ignore[arg-type]
            open_timeout=WELCOME_TIMEOUT_SECONDS,
            max_size=1 << 20,
        )

    def _hello(self) -> dict[str, Any]:
        last = self.view(self.chat_id).last if self.chat_id is not None else 0
        return {"type": "hello", "token": self.token, "last_seq": last}

    def _message_frame(self, chat_id: int, client_id: str, body: str) -> dict[str, Any]:
        return {"type": "message", "client_id": client_id, "body": body}

    def _fetch(self, chat_id: int, after: int) -> None:
        self.send({"type": "fetch", "after_seq": after})

    def _expects_more(self, chat_id: int) -> bool:
        return len(self.view(chat_id).shown_ids("agent")) < self.expected

    def start_chat(self, service_id: int, first: str) -> None:
        self.start_sent = True
        self.send(
            {
                "type": "start_chat",
                "service_id": service_id,
                "name": self.name,
                "email": f"{self.name}@faults.test",
                "subject": "Fault scenario",
                "message": first,
            }
        )

    def _snapshot(self, snap: dict[str, Any] | None) -> None:
        if not snap:
            return
        self.chat_id = int(snap["id"])
        if snap.get("agent"):
            self.agent_id = int(snap["agent"]["id"])
            self.assigned.set()
        if snap.get("state") in ("ended", "missed"):
            self.ended.set()

    def end_chat(self) -> None:
        self.send({"type": "end_chat"})

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            self.token = frame["token"]
            self._snapshot(frame.get("chat"))
            if self.chat_id is not None and frame.get("chat"):
                self.resume_target = {self.chat_id: int(frame["chat"]["last_seq"])}
            self._welcomed()
        elif kind == "chat":
            self._snapshot(frame["chat"])
        elif kind == "assigned":
            self.agent_id = int(frame["agent"]["id"])
            self.assigned.set()
        elif kind == "message":
            self._on_message(frame)
        elif kind == "ack":
            self._on_ack(frame)
        elif kind == "ended":
            self.ended.set()
        elif kind == "error":
            if frame.get("code") in ("chat_closed", "no_open_chat") and frame.get("ref") in (
                "end_chat",
                None,
            ):
                self.ended.set()
            self._on_error(frame)


class Agent(Peer):
    """A console: one agent, several chats; accepts every offer."""

    role = "agent"

    def __init__(self, cluster: Cluster, home: int, login_index: int) -> None:
        super().__init__(cluster, home)
        self.email, self.password = cluster.logins[login_index]
        self.cookie = ""
        self.agent_id: int | None = None
        self.chats: set[int] = set()
        self.active: dict[int, asyncio.Event] = {}
        self.ended: dict[int, asyncio.Event] = {}
        self.expected: dict[int, int] = {}

    async def log_in(self) -> None:
        self.cookie = await asyncio.to_thread(
            login, self.cluster.base_url(self.home), self.email, self.password
        )

    async def _open(self, port_index: int) -> ClientConnection:
        return await connect(
            self.cluster.ws_url(port_index) + "/ws/console",
            origin=self.cluster.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"chatdesk_session={self.cookie}"},
            open_timeout=WELCOME_TIMEOUT_SECONDS,
            max_size=1 << 22,
        )

    def _hello(self) -> dict[str, Any]:
        return {"type": "hello", "chats": {str(c): self.view(c).last for c in self.chats}}

    def _message_frame(self, chat_id: int, client_id: str, body: str) -> dict[str, Any]:
        return {"type": "message", "chat_id": chat_id, "client_id": client_id, "body": body}

    def _fetch(self, chat_id: int, after: int) -> None:
        self.send({"type": "fetch", "chat_id": chat_id, "after_seq": after})

    def _expects_more(self, chat_id: int) -> bool:
        return len(self.view(chat_id).shown_ids("customer")) < self.expected.get(chat_id, 0)

    def active_event(self, chat_id: int) -> asyncio.Event:
        return self.active.setdefault(chat_id, asyncio.Event())

    def ended_event(self, chat_id: int) -> asyncio.Event:
        return self.ended.setdefault(chat_id, asyncio.Event())

    def end_chat(self, chat_id: int) -> None:
        self.send({"type": "end_chat", "chat_id": chat_id, "status": "resolved"})

    def _accept(self, snap: dict[str, Any]) -> None:
        self.send({"type": "accept", "chat_id": int(snap["id"])})

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "welcome":
            self.agent_id = int(frame["agent"]["id"])
            self.resume_target = {}
            still = {int(snap["id"]) for snap in frame.get("chats", [])}
            for chat_id in self.chats - still:  # ended (or moved) while we were away
                self.ended_event(chat_id).set()
            self.chats &= still
            for snap in frame.get("chats", []):
                chat_id = int(snap["id"])
                self.chats.add(chat_id)
                self.active_event(chat_id).set()
                self.resume_target[chat_id] = int(snap["last_seq"])
            self._welcomed()
            for offer in frame.get("offers", []):
                self._accept(offer["chat"])
            self.send({"type": "presence", "status": "online"})
        elif kind == "offer":
            self._accept(frame["chat"])
        elif kind == "chat":
            snap = frame["chat"]
            chat_id = int(snap["id"])
            if snap.get("state") == "active" and (snap.get("agent") or {}).get("id") in (
                self.agent_id,
                None,
            ):
                self.chats.add(chat_id)
                self.active_event(chat_id).set()
            elif snap.get("state") in ("ended", "missed"):
                self.ended_event(chat_id).set()
        elif kind == "chat_removed":
            self.chats.discard(int(frame["chat_id"]))
        elif kind == "message":
            self._on_message(frame)
        elif kind == "ack":
            self._on_ack(frame)
        elif kind == "ended":
            self.ended_event(int(frame["chat_id"])).set()
        elif kind == "error":
            self._on_error(frame)
