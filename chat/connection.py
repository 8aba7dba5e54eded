"""One websocket client: a bounded send queue drained by a writer task of its own.

Fan-out never awaits a socket: events are queued here, and a client that stops
reading fills its queue and is disconnected (it resumes from the transcript when
it comes back), so a slow consumer can't grow the server's memory without bound.

When the queue is empty and the socket can take a frame now, the frame is written at
once through the protocol's `SEND_TEXT_NOW` (chat/ws_protocol.py) instead of waking the
writer task: the same frames in the same order, one task switch fewer per frame. So
the writer is needed only while frames wait (a paused socket, the close, a server
without the shortcut): it starts when one is queued and ends once the queue is empty.
An idle socket, most of the ten thousand a desk holds, keeps no task, coroutines or
waiting future for it (docs/performance.md, "Ten thousand sockets").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from chat.protocol import WS_4408_SLOW_CONSUMER
from chat.transcripts import SendOrder
from chat.ws_protocol import SEND_TEXT_NOW
from ticketing.models import Agent

log = logging.getLogger("chat.connection")

# On the way out, the last frames (an error, a close code) get this long to leave.
WRITER_DRAIN_SECONDS = 2.0
# A replay waits for room in the queue; a client that reads nothing for this long
# while one is under way is a slow consumer after all.
ROOM_PATIENCE_SECONDS = 10.0
ROOM_POLL_SECONDS = 0.02


# One encoder for every frame (`json.dumps` with arguments builds one per call).
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(frame: dict[str, Any]) -> str:
    return _encode_json(frame)


class Client:
    def __init__(self, websocket: WebSocket, role: str, queue_limit: int) -> None:
        self.websocket = websocket
        self.role = role  # "customer" or "agent"
        self.customer_id: int | None = None
        self.agent: Agent | None = None
        self.session_hash: str | None = None
        self.chat_ids: set[int] = set()
        self.service_ids: frozenset[int] = frozenset()
        self.last_queue: Any = None  # what we last told it about the queue, to skip repeats
        self.queue_sent_at = 0.0  # loop time of the last `queue` frame (widgets: throttled)
        self.last_desk: Any = None
        # Messages submitted for storage and not yet acknowledged (see ws_common.store).
        self.in_flight: set[asyncio.Future[Any]] = set()
        self.send_order = SendOrder()  # stored in the order sent, across an outage too
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_limit)
        self._writer: asyncio.Task[None] | None = None
        self._writing = False  # the writer holds a frame it took from the queue
        extensions = websocket.scope.get("extensions") or {}
        self._send_now: Callable[[str], bool] | None = extensions.get(SEND_TEXT_NOW)
        self._held: list[str] | None = None  # frames kept back until the welcome
        self.closed = False
        self.close_code: int | None = None

    def _enqueue(self, text: str | None) -> None:
        """Queue a frame (None: the close) and make sure a writer is draining the queue."""
        self._queue.put_nowait(text)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.role}")

    def send(self, frame: dict[str, Any]) -> None:
        self.send_text(encode(frame))

    def hold(self) -> None:
        """Keep live frames back until `release` sends the welcome. A client follows its channels
        before its welcome is read, so nothing falls between the two; but a client reads
        the welcome as "the state now", and a frame that came first (an offer made a moment
        after the read) would be overwritten by it and lost (docs/reliability.md)."""
        self._held = []

    def release(self, first: dict[str, Any] | None = None) -> None:
        """Send `first` (the welcome), then whatever was held back meanwhile, in order."""
        held, self._held = self._held or [], None
        if first is not None:
            self.send(first)
        for text in held:
            self.send_text(text)

    def send_text(self, text: str) -> None:
        if self.closed:
            return
        if self._held is not None:
            if len(self._held) < self._queue.maxsize:
                self._held.append(text)
                return
            self._held = None  # as a full queue would: the welcome and replays catch up
        if self._send_now is not None and not self._writing and self._queue.empty():
            try:
                if self._send_now(text):
                    return
            except UnicodeEncodeError:
                log.error("dropped a frame that is not valid UTF-8 (%s)", self.role)
                return
        try:
            self._enqueue(text)
        except asyncio.QueueFull:
            log.info("slow consumer (%s): disconnecting", self.role)
            # What's queued is dropped: the client replays it from the transcript.
            while not self._queue.empty():
                self._queue.get_nowait()
            self.close(WS_4408_SLOW_CONSUMER)

    @property
    def queue_limit(self) -> int:
        return self._queue.maxsize

    async def wait_for_room(self, frames: int, patience: float = ROOM_PATIENCE_SECONDS) -> bool:
        """Wait until `frames` more fit in the queue, so a long replay flows at the
        client's pace instead of overflowing the queue (and 4408) on every resume.

        False when the client is closed, or made no progress for `patience` seconds
        (then it is closed as a slow consumer, as `send_text` would).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        size = self._queue.qsize()
        while not self.closed and self._queue.maxsize - self._queue.qsize() < frames:
            await asyncio.sleep(ROOM_POLL_SECONDS)
            if self._queue.qsize() < size:  # it is reading: be patient again
                deadline = loop.time() + patience
            size = self._queue.qsize()
            if loop.time() > deadline:
                log.info("slow consumer (%s) during a replay: disconnecting", self.role)
                self.close(WS_4408_SLOW_CONSUMER)
        return not self.closed

    def close(self, code: int) -> None:
        """Send what's queued (say, the error that explains why), then close with `code`."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        if self._queue.full():
            self._queue.get_nowait()
        self._enqueue(None)

    async def _write_loop(self) -> None:
        ws = self.websocket
        queue = self._queue
        try:
            while True:
                if queue.empty():
                    return  # drained: the next frame that has to wait starts a writer again
                text = queue.get_nowait()
                if text is None:
                    break
                self._writing = True
                try:
                    await ws.send_text(text)
                except UnicodeEncodeError:
                    # One frame that can't be UTF-8 must not silence the socket for good.
                    log.error("dropped a frame that is not valid UTF-8 (%s)", self.role)
                finally:
                    self._writing = False
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
            return
        if ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await ws.close(self.close_code or 1000)

    async def stop(self) -> None:
        """Let the writer send what's queued (an error, a close code), but not for long."""
        self.close(1000)
        if self._writer is None:
            return
        try:
            async with asyncio.timeout(WRITER_DRAIN_SECONDS):
                await asyncio.shield(self._writer)
        except (TimeoutError, asyncio.CancelledError):
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
