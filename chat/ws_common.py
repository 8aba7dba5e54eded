"""What every websocket endpoint shares: the origin check, hello first, the frame loop.

Every frame is size-checked, rate-limited and validated before a handler sees it,
and every error becomes an `error` frame; nothing a client sends can end the loop
except closing the socket (docs/protocol.md, "Rules that hold for every frame").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from chat import gc_tuning
from chat.auth import origin_allowed
from chat.connection import Client
from chat.deadline import QuietDeadline
from chat.errors import DatabaseUnavailable, DeskError
from chat.protocol import (
    WS_1008_POLICY_VIOLATION,
    WS_1011_INTERNAL_ERROR,
    WS_4000_IDLE,
    FrameError,
    Limits,
    Spec,
    UnknownType,
    error_frame,
    parse_frame,
)
from chat.ratelimit import TokenBucket
from chat.runtime import Runtime
from chat.transcripts import NewMessage, TranscriptWriter
from chat.ws_protocol import RECEIVE_NOW

log = logging.getLogger("chat.ws")

# A client that connects but never says hello is dropped after this long.
HELLO_TIMEOUT_SECONDS = 10.0
# Chat messages are acknowledged after their group commit without holding up the
# connection's next frame; beyond this many unacknowledged ones, reading waits.
MAX_MESSAGES_IN_FLIGHT = 64
# Frames that may overtake messages still being stored. Any other frame (end_chat,
# transfer, …) first waits for them, so "bye" then end_chat keeps its order. Receipts
# are about what this client received, never about what it is sending.
PIPELINED = frozenset({"message", "typing", "ping", "delivered", "read"})

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Session:
    """One socket's side of the protocol: `hello`, then a method per frame type, named as
    the type (`FRAMES` lists them). Looked up per frame rather than kept as a map of
    bound methods: a socket lives for hours, and ten thousand of them each holding a
    dozen would be 120,000 more objects for every garbage collection to walk."""

    FRAMES: frozenset[str] = frozenset()

    async def hello(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    def handler(self, kind: str) -> Handler:
        if kind not in self.FRAMES:
            raise KeyError(kind)  # a spec's frame type this side does not handle: a bug
        handler: Handler = getattr(self, kind)
        return handler


class NotHelloFirst(FrameError):
    code = "not_hello_first"
    message = "The first frame must be hello."


class RateLimited(FrameError):
    code = "rate_limited"
    message = "Too many frames; slow down."


async def refuse(websocket: WebSocket) -> None:
    """Close before accepting: the client sees HTTP 403 and no websocket opens."""
    await websocket.close(code=WS_1008_POLICY_VIOLATION)


def check_origin(websocket: WebSocket, runtime: Runtime) -> bool:
    return origin_allowed(websocket.headers.get("origin"), runtime.settings, runtime.widget.origins)


async def run_socket(
    websocket: WebSocket,
    client: Client,
    runtime: Runtime,
    spec: Spec,
    session: Session,
) -> None:
    settings = runtime.settings
    limits = Limits(settings.max_frame_bytes, settings.max_message_chars)
    bucket = TokenBucket(settings.rate_messages_per_second, settings.rate_burst, time.monotonic())
    extensions = websocket.scope.get("extensions") or {}
    # The next ASGI event, or an awaitable of it: our protocol's shortcut (one future),
    # else Starlette's `receive` (a test client, another server).
    next_event: Callable[[], Any] = extensions.get(RECEIVE_NOW) or websocket.receive
    try:
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_SECONDS):
                event = next_event()
                if type(event) is not dict:
                    event = await event
                raw = _payload(websocket, event)
        except TimeoutError:
            client.send(error_frame(NotHelloFirst()))
            client.close(WS_1008_POLICY_VIOLATION)
            return
        if raw is _CLOSED:
            return
        try:
            try:
                frame = parse_frame(raw, {"hello": spec["hello"]}, limits)  # type: ignore[arg-type]
            except UnknownType:
                raise NotHelloFirst() from None
            await session.hello(frame)
        except DeskError as error:
            client.send(error_frame(error))
            client.close(WS_1008_POLICY_VIOLATION)
            return
        idle = QuietDeadline(settings.ws_idle_seconds)
        try:
            while not client.closed:
                idle.waiting()
                try:
                    event = next_event()
                    if type(event) is not dict:  # nothing waiting: wait for it, inline
                        event = await event
                except asyncio.CancelledError:
                    if not idle.expired:
                        raise
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    client.close(WS_4000_IDLE)
                    return
                idle.heard()
                raw = _payload(websocket, event)
                if raw is _CLOSED:
                    return
                if not bucket.allow(time.monotonic()):
                    client.send(error_frame(RateLimited()))
                    continue
                await _handle_one(client, raw, spec, limits, session)  # type: ignore[arg-type]
        finally:
            idle.cancel()
    except WebSocketDisconnect:
        return
    except Exception:
        log.exception("websocket handler failed")
        client.close(WS_1011_INTERNAL_ERROR)
    finally:
        gc_tuning.socket_closed()


async def _handle_one(
    client: Client, raw: str | bytes, spec: Spec, limits: Limits, session: Session
) -> None:
    ref: object = None
    try:
        frame = parse_frame(raw, spec, limits)
        ref = frame.get("client_id") or frame["type"]
        if frame["type"] == "hello":
            raise FrameError("hello was already received.")
        if frame["type"] not in PIPELINED and client.in_flight:
            await asyncio.wait(set(client.in_flight))
        await session.handler(frame["type"])(frame)
    except DeskError as error:
        client.send(error_frame(error, ref))
    except (OperationalError, DBAPIError, OSError) as exc:
        log.warning("database error while handling a frame: %s", exc)
        client.send(error_frame(DatabaseUnavailable(), ref))


async def store(
    client: Client,
    writer: TranscriptWriter,
    message: NewMessage,
    on_stored: Callable[[int, int], None] | None = None,
) -> None:
    """Submit a chat message for storage and return at once; its confirmation (the echo,
    or an ack) or the error frame is sent when its group commit is done. Waiting for the
    commit before reading the next frame capped a console at one message per commit round
    trip, however many chats it serves, and kept group commits small. `on_stored(chat_id,
    seq)` hears of each stored message (the receipts book keeps chats' last seq without
    asking the database)."""
    while len(client.in_flight) >= MAX_MESSAGES_IN_FLIGHT:
        await asyncio.wait(set(client.in_flight), return_when=asyncio.FIRST_COMPLETED)
    future = writer.submit(message, client.send_order)
    client.in_flight.add(future)
    echoed = writer.echoes
    future.add_done_callback(lambda done: _stored(client, done, message, on_stored, echoed))


def _stored(
    client: Client,
    future: asyncio.Future[Any],
    message: NewMessage,
    on_stored: Callable[[int, int], None] | None,
    echoed: bool,
) -> None:
    client.in_flight.discard(future)
    if future.cancelled():
        return
    error = future.exception()
    if error is None:
        row, is_new = future.result()
        # A new line comes back to this socket as its `message` echo (it follows the chat),
        # carrying our client_id: that is its confirmation, and an `ack` beside it was a
        # third frame per relayed message. A resend is not echoed again, and while the bus
        # is down the echo may never come: those are acknowledged here.
        if not is_new or not echoed:
            client.send(
                {"type": "ack", "client_id": row.client_id, "seq": row.seq, "chat_id": row.chat_id}
            )
        if on_stored is not None:
            on_stored(row.chat_id, row.seq)
    elif isinstance(error, DeskError):
        client.send(error_frame(error, message.client_id))
    else:
        log.warning("storing a message failed: %s", error)
        client.send(error_frame(DatabaseUnavailable(), message.client_id))


_CLOSED = object()


def _payload(websocket: WebSocket, message: dict[str, Any]) -> str | bytes | object:
    """A received ASGI event's text or bytes, or `_CLOSED`."""
    if message["type"] == "websocket.disconnect":
        # What Starlette's `receive` would note, had the event come through it.
        websocket.client_state = WebSocketState.DISCONNECTED
        return _CLOSED
    if message.get("text") is not None:
        return message["text"]
    return message.get("bytes") or b""
