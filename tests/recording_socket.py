"""A server websocket connection on a transport that records what is done to it, with
websockets' own client protocol at the other end: the socket edge (chat/ws_protocol.py)
seen step by step, without a network. Used by tests/chat/test_ws_edge.py and bench/edge.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from chat.connection import Client
from chat.ws_protocol import DeskWebSocketProtocol


async def settle() -> None:
    """Let the socket's tasks run what the last step set off (a few loop passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.pauses = 0
        self.resumes = 0
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def pause_reading(self) -> None:
        self.pauses += 1

    def resume_reading(self) -> None:
        self.resumes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


class Socket:
    """One server connection, and the client that talks to it."""

    def __init__(self, app: Any) -> None:
        config = Config(app=app, ws=DeskWebSocketProtocol, ws_ping_interval=None)
        config.load()
        self.server = DeskWebSocketProtocol(config, ServerState(), {})
        self.transport = RecordingTransport()
        self.server.connection_made(self.transport)
        self.client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws/widget"))
        self.client.send_request(self.client.connect())
        self.server.data_received(b"".join(self.client.data_to_send()))

    def frames_from_server(self) -> list[str]:
        """Texts of the frames written since the last call (the handshake response aside)."""
        self.client.receive_data(bytes(self.transport.written))
        self.transport.written.clear()
        events = self.client.events_received()
        return [
            bytes(e.data).decode()
            for e in events
            if isinstance(e, Frame) and e.opcode is Opcode.TEXT
        ] + [f"<response {e.status_code}>" for e in events if isinstance(e, Response)]

    def send_from_client(self, text: str) -> None:
        self.client.send_text(text.encode())
        self.server.data_received(b"".join(self.client.data_to_send()))


async def client_on_socket(queue_limit: int) -> tuple[Socket, Client, asyncio.Event]:
    """A `Client` (chat/connection.py) on an accepted socket, its handshake read; setting
    the event stops it."""
    clients: list[Client] = []
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        client = Client(websocket, "customer", queue_limit)
        clients.append(client)
        await done.wait()
        await client.stop()

    socket = Socket(app)
    while not clients:
        await asyncio.sleep(0)
    socket.frames_from_server()
    return socket, clients[0], done
