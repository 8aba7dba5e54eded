"""How uvicorn serves our websockets: compressed frames, no compression state while idle,
and no more work per frame than a chat frame needs.

uvicorn's sans-I/O protocol negotiates permessage-deflate with context takeover, so every
connection keeps a zlib compressor and decompressor alive for its whole life: about
49 KiB of each idle socket (docs/performance.md, "Capacity"), more than the 40 KB a
socket may cost in all. With `server_no_context_takeover` and
`client_no_context_takeover` (RFC 7692 §7.1.1; a server may ask for the latter even if
the client did not offer it) websockets builds the zlib objects per message and drops
them after its last frame, so a socket with nothing to say holds none. Chat frames are
small JSON, compressed well enough on their own; what is lost is only the cross-message
dictionary.

Frames under `PLAIN_BELOW_BYTES` go out uncompressed (RFC 7692 §6: a sender may leave any
message uncompressed, RSV1 unset, and every client must read it): a fresh zlib stream for
a 250-byte chat frame costs ~10 µs of CPU to save ~80 bytes, and every relayed message
sends two such frames. The queue, the snapshots and anything long are still compressed,
and a long message that goes to socket after socket (the desk's status) is deflated once
for all of them (`SmallFramesPlain`).

Two per-frame costs of uvicorn's protocol are trimmed (docs/performance.md, "The socket
edge"; `python -m bench.edge` measures each). It stopped reading the socket after *every*
frame until the app took it (`pause_reading`, then `resume_reading`: two trips into the
event loop's poller per frame received); here reading pauses only when the app has
`READ_AHEAD_FRAMES` frames it has not taken, which still bounds what one socket can make
the server hold. And every frame out went through an ASGI `send` coroutine awaited by
the connection's writer task (chat/connection.py); the protocol now also offers that
writer a plain function, under the ASGI extension `SEND_TEXT_NOW`, that frames and
writes a text message at once when the socket can take it, so a frame whose queue is
empty needs no task switch. The ASGI path stays for everything else (a paused
transport, the close), and a server without this protocol simply does not offer the extension.

The receiving side has the same shortcut, `RECEIVE_NOW`: the next event at once if one
is waiting, else one future the protocol resolves with it. Through ASGI, every wait for
a frame was four coroutines deep (our receive, Starlette's, uvicorn's, `Queue.get`),
all made afresh for each frame. Besides their CPU, at 5,000 open chats those waits were
most of what a young garbage collection walks (each connection's wait is younger than
the last collection), and so most of how long it holds the loop (docs/performance.md,
"Garbage collection at 5,000 open chats").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.typing import ExtensionParameter

from chat.settings import Settings

PLAIN_BELOW_BYTES = 512
# Frames received and not yet taken by the app before the socket stops being read.
READ_AHEAD_FRAMES = 16
# The ASGI scope extension that holds `DeskWebSocketProtocol.send_text_now`.
SEND_TEXT_NOW = "chatdesk.send_text_now"
# The ASGI scope extension that holds `DeskWebSocketProtocol.receive_now`.
RECEIVE_NOW = "chatdesk.receive_now"


class SmallFramesPlain(PerMessageDeflate):
    """permessage-deflate that sends a short single-frame message as it is, and compresses
    a message that many sockets get once for all of them.

    Without context takeover each message is deflated on its own, so its compressed form
    depends only on its bytes and the compressor's settings, not on the connection. The
    desk's frames go out alike to every socket (`desk_status` to every widget, a `queue`
    frame to every console of the same services): at ~13 µs a fresh deflate of a
    600-byte frame, one change of the desk held the event loop ~65 ms at 5,000 widgets.
    The last message deflated is kept, with the settings it was deflated with, and a
    socket that sends the same bytes with the same settings next sends the same deflated
    bytes: ~1.2 µs a socket (`python -m bench.edge`).
    """

    # (settings, message, its deflated form): one for the whole process, as a fan-out
    # sends one message to socket after socket before the next message.
    _last_deflated: tuple[tuple[Any, ...], bytes, bytes] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settings = (self.local_max_window_bits, *sorted(self.compress_settings.items()))

    def encode(self, frame: Frame) -> Frame:
        if not frame.fin or frame.opcode not in (Opcode.TEXT, Opcode.BINARY):
            return super().encode(frame)
        if len(frame.data) < PLAIN_BELOW_BYTES:
            return frame
        if not self.local_no_context_takeover:  # the deflated bytes depend on the past
            return super().encode(frame)
        last = SmallFramesPlain._last_deflated
        if last is not None and last[0] == self._settings and last[1] == frame.data:
            return Frame(frame.opcode, last[2], frame.fin, True, frame.rsv2, frame.rsv3)
        deflated = super().encode(frame)
        SmallFramesPlain._last_deflated = (self._settings, bytes(frame.data), bytes(deflated.data))
        return deflated


class SmallFramesPlainFactory(ServerPerMessageDeflateFactory):
    """Negotiates as websockets' factory does; the extension it makes is `SmallFramesPlain`."""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, made = super().process_request_params(params, accepted_extensions)
        return response, SmallFramesPlain(
            made.remote_no_context_takeover,
            made.local_no_context_takeover,
            made.remote_max_window_bits,
            made.local_max_window_bits,
            made.compress_settings,
        )


# uvicorn's own windows and memory level (small: chat frames are small), no takeover.
# A factory only negotiates; each connection gets its own extension, so one is shared.
NO_CONTEXT_TAKEOVER_DEFLATE = SmallFramesPlainFactory(
    server_no_context_takeover=True,
    client_no_context_takeover=True,
    server_max_window_bits=12,
    client_max_window_bits=12,
    compress_settings={"memLevel": 5},
)


class _Events(asyncio.Queue[Any]):
    """uvicorn's queue of ASGI events for the app, which can also hand the next event
    straight to the one future the app waits on (`DeskWebSocketProtocol.receive_now`)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiter: asyncio.Future[Any] | None = None

    def put_nowait(self, item: Any) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():  # done: cancelled, the app left
            waiter.set_result(item)
        else:
            super().put_nowait(item)


class DeskWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's default websocket protocol, with permessage-deflate per message only,
    a read-ahead of a few frames and direct ways to send text and to receive (see the
    module's doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:  # else uvicorn offers no extension at all
            self.conn.available_extensions = [NO_CONTEXT_TAKEOVER_DEFLATE]
        self.queue: _Events = _Events()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # the app's task is made, not yet run
            extensions = self.scope["extensions"]
            extensions[SEND_TEXT_NOW] = self.send_text_now  # type: ignore[index]
            extensions[RECEIVE_NOW] = self.receive_now  # type: ignore[index]

    def start_keepalive(self) -> None:
        """uvicorn calls this once the app's accept has gone out: the handshake's request
        and response (two header maps of lists, ~30 objects) are not read again, and an
        open socket would keep them for its whole life."""
        self.request = self.response = None  # type: ignore[assignment]
        super().start_keepalive()

    def receive_now(self) -> Any:
        """The app's next ASGI event (a dict) if one is waiting, else a future of it.

        As uvicorn's `receive`, reading resumes once the app has taken every frame.
        One caller at a time: a second future would replace the first."""
        queue = self.queue
        if queue.empty():
            waiter = queue.waiter = self.loop.create_future()
            return waiter
        message = queue.get_nowait()
        if self.read_paused and queue.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return message

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, pausing only when the app is `READ_AHEAD_FRAMES` frames behind.
        (uvicorn's `receive` resumes reading once the app has taken them all.)"""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # the app is past its close: reads go on until the peer's close reply
        if self.curr_msg_data_type == "text":
            try:
                self.queue.put_nowait({"type": "websocket.receive", "text": data.decode()})
            except UnicodeDecodeError:
                self.logger.info("Invalid UTF-8 sequence received from client.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": data})
        if not self.read_paused and self.queue.qsize() >= READ_AHEAD_FRAMES:
            self.read_paused = True
            self.transport.pause_reading()

    def send_text_now(self, text: str) -> bool:
        """Frame and write `text` as `send` would a `websocket.send`, without a coroutine.

        False when `send` would have to wait (the transport is paused: the peer reads
        slowly) or refuse (not open, closing, gone); the caller then goes the ASGI way,
        which waits or raises as it should. Raises UnicodeEncodeError as `send` does.
        """
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's websocket arguments, the same for `serve` and the tests' live desk."""
    return {
        "ws": DeskWebSocketProtocol,
        "ws_max_size": settings.max_frame_bytes,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        # No websocket-level pings: clients ping every 25 s and a socket silent for
        # `ws_idle_seconds` is closed (chat/ws_common.py), which finds dead peers too.
        # uvicorn's pings (every 20 s) were a fifth of an idle desk's CPU at 10,000
        # sockets (docs/performance.md, "Sockets").
        "ws_ping_interval": None,
    }
