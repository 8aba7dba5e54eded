"""How uvicorn serves our websockets: compressed frames, no compression state while idle.

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
sends three such frames. The queue, the snapshots and anything long are still compressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter

from chat.settings import Settings

PLAIN_BELOW_BYTES = 512


class SmallFramesPlain(PerMessageDeflate):
    """permessage-deflate that sends a short single-frame message as it is."""

    def encode(self, frame: Frame) -> Frame:
        if (
            frame.fin
            and frame.opcode in (Opcode.TEXT, Opcode.BINARY)
            and len(frame.data) < PLAIN_BELOW_BYTES
        ):
            return frame
        return super().encode(frame)


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


class StatelessDeflateProtocol(WebSocketsSansIOProtocol):
    """uvicorn's default websocket protocol, with permessage-deflate per message only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:  # else uvicorn offers no extension at all
            self.conn.available_extensions = [NO_CONTEXT_TAKEOVER_DEFLATE]


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's websocket arguments, the same for `serve` and the tests' live desk."""
    return {
        "ws": StatelessDeflateProtocol,
        "ws_max_size": settings.max_frame_bytes,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        # No websocket-level pings: clients ping every 25 s and a socket silent for
        # `ws_idle_seconds` is closed (chat/ws_common.py), which finds dead peers too.
        # uvicorn's pings (every 20 s) were a fifth of an idle desk's CPU at 10,000
        # sockets (docs/performance.md, "Sockets").
        "ws_ping_interval": None,
    }
