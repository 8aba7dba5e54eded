"""CPU of the socket edge's shortcuts (chat/ws_protocol.py), each against what it replaced.

    python -m bench.edge [--frames 20000] [--rounds 4]

* **Frames out:** `Client.send_text` on a connection whose protocol offers
  `SEND_TEXT_NOW` (written at once) and on the same connection without it (queued, then
  sent by the writer task through Starlette and uvicorn's ASGI `send`). The transport
  records instead of writing, so the socket's own write is in neither figure.
* **Frames in:** a uvloop TCP protocol receiving one short line per loop pass, plain
  (the read-ahead) and with `pause_reading` + `resume_reading` around each (what
  uvicorn's protocol did for every frame). Both ends are in this process.
* **Frames taken by the app:** the frame loop's wait for the next frame through ASGI
  (Starlette's `receive`, uvicorn's, `Queue.get`) and through `RECEIVE_NOW` (at once,
  or one future): CPU a frame, and the tracked objects a waiting socket holds that are
  younger than its last frame, which is what a young garbage collection walks for
  each socket that spoke since the last one (docs/performance.md, "Garbage collection
  at 5,000 open chats"). The client's framing of each frame is in both figures.
* **A desk frame to many sockets:** permessage-deflate's `encode` of one ~600-byte
  `desk_status` frame on socket after socket (as the desk sends it to every widget),
  deflated once for all (the last message deflated is kept) and deflated per socket.

Process CPU time, alternated in rounds, one loop pass per frame in both variants: the
end-to-end bench (`bench.run`) cannot resolve a few µs a message on a shared box, so
this is where each shortcut's saving is measured (docs/performance.md, "The socket edge").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import time
from typing import Any

from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode

from bench import event_loop
from chat.connection import encode
from chat.ws_protocol import RECEIVE_NOW, SmallFramesPlain
from tests.recording_socket import Socket, client_on_socket, settle

# A `message` frame as the hub sends it: 80 characters of body.
FRAME = encode(
    {
        "type": "message",
        "chat_id": 123,
        "seq": 45,
        "sender": "agent",
        "author_name": "Bea",
        "body": "x" * 80,
        "client_id": "c-1764000000-abcdef",
        "i18n": None,
        "attachment": None,
        "created_at": "2026-11-24T12:00:00.000000Z",
    }
)
LINE = b"x" * 200 + b"\n"
# The desk's status as every widget gets it: five services.
DESK = encode(
    {
        "type": "desk_status",
        "services": [
            {
                "id": n,
                "name": f"Service {n}",
                "open": True,
                "available": True,
                "next_open": None,
                "waiting": n % 3,
                "estimated_wait_seconds": 60,
            }
            for n in range(5)
        ],
    }
).encode()


async def frames_out(frames: int, rounds: int) -> dict[str, list[float]]:
    socket, client, done = await client_on_socket(queue_limit=256)
    direct = client._send_now
    figures: dict[str, list[float]] = {"written at once": [], "through the writer task": []}
    for _ in range(rounds):
        for name, send_now in (("through the writer task", None), ("written at once", direct)):
            client._send_now = send_now
            start = time.process_time()
            for _ in range(frames):
                client.send_text(FRAME)
                await asyncio.sleep(0)
            await asyncio.sleep(0)
            figures[name].append((time.process_time() - start) * 1e6 / frames)
            socket.transport.written.clear()
    done.set()
    return figures


class _Lines(asyncio.Protocol):
    def __init__(self, expected: int, pause_each: bool) -> None:
        self.expected, self.pause_each, self.seen = expected, pause_each, 0
        self.done = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.seen += data.count(b"\n")
        if self.pause_each:
            self.transport.pause_reading()
            asyncio.get_running_loop().call_soon(self.transport.resume_reading)
        if self.seen >= self.expected and not self.done.done():
            self.done.set_result(None)


async def frames_in(frames: int, rounds: int) -> dict[str, list[float]]:
    loop = asyncio.get_running_loop()
    figures: dict[str, list[float]] = {"read ahead": [], "paused and resumed each": []}
    for _ in range(rounds):
        for name, pause_each in (("paused and resumed each", True), ("read ahead", False)):
            protocol = _Lines(frames, pause_each)
            server = await loop.create_server(lambda p=protocol: p, "127.0.0.1", 0)
            _, writer = await asyncio.open_connection(
                "127.0.0.1", server.sockets[0].getsockname()[1]
            )
            start = time.process_time()
            for _ in range(frames):
                writer.write(LINE)
                await asyncio.sleep(0)
            await protocol.done
            figures[name].append((time.process_time() - start) * 1e6 / frames)
            writer.close()
            server.close()
    return figures


ASGI, DIRECT = "through ASGI's receive", "through RECEIVE_NOW"


async def _taking_socket(direct: bool, taken: list[int]) -> Socket:
    """An accepted socket whose app takes frames for ever, as the frame loop does."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        receive_now = scope["extensions"][RECEIVE_NOW] if direct else websocket.receive
        while True:
            event = receive_now()
            if type(event) is not dict:
                event = await event
            if event["type"] == "websocket.disconnect":
                return
            taken.append(1)

    socket = Socket(app)
    await settle()
    socket.frames_from_server()
    return socket


async def frames_taken(frames: int, rounds: int, sockets: int = 500) -> dict[str, list[float]]:
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # a line per socket opened
    figures: dict[str, list[float]] = {
        f"a frame taken {ASGI}": [],
        f"a frame taken {DIRECT}": [],
        f"young objects a waiting socket holds, {ASGI}": [],
        f"young objects a waiting socket holds, {DIRECT}": [],
    }
    for _ in range(rounds):
        for way, direct in ((ASGI, False), (DIRECT, True)):
            taken: list[int] = []
            socket = await _taking_socket(direct, taken)
            start = time.process_time()
            for _ in range(frames):
                socket.send_from_client("x" * 80)
                await asyncio.sleep(0)
            await asyncio.sleep(0)
            figures[f"a frame taken {way}"].append((time.process_time() - start) * 1e6 / frames)
            assert len(taken) == frames, (way, len(taken))
            many = [await _taking_socket(direct, taken) for _ in range(sockets)]
            gc.collect()
            gc.disable()  # what each socket's next wait leaves in the young generation
            try:
                for one in many:
                    one.send_from_client("x" * 80)
                await settle()
                young = len(gc.get_objects(0)) - 1  # the list itself
            finally:
                gc.enable()
            figures[f"young objects a waiting socket holds, {way}"].append(young / sockets)
            for one in [socket, *many]:
                one.server.connection_lost(None)
            await settle()
    return figures


def desk_to_sockets(frames: int, rounds: int) -> dict[str, list[float]]:
    sockets = [SmallFramesPlain(True, True, 12, 12, {"memLevel": 5}) for _ in range(frames)]
    figures: dict[str, list[float]] = {
        f"a {len(DESK)}-byte desk frame, deflated once for all sockets": [],
        f"a {len(DESK)}-byte desk frame, deflated per socket": [],
    }
    once, each = figures
    for _ in range(rounds):
        for name in (each, once):
            SmallFramesPlain._last_deflated = None
            start = time.process_time()
            for socket in sockets:
                if name == each:
                    SmallFramesPlain._last_deflated = None
                socket.encode(Frame(Opcode.TEXT, DESK))
            figures[name].append((time.process_time() - start) * 1e6 / frames)
    return figures


def _row(name: str, values: list[float]) -> str:
    spread = f"{min(values):.2f}–{max(values):.2f}"
    return f"| {name} | {spread} | {sum(values) / len(values):.2f} |"


async def main(frames: int, rounds: int) -> None:
    print(f"{frames} frames a variant, {rounds} rounds alternated; CPU µs a frame")
    print("| variant | range | mean |\n|---|---:|---:|")
    for figures in (
        await frames_out(frames, rounds),
        await frames_in(frames, rounds),
        await frames_taken(frames, rounds),
        desk_to_sockets(frames, rounds),
    ):
        for name, values in figures.items():
            print(_row(name, values))


def run() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    event_loop.run(main(args.frames, args.rounds))


if __name__ == "__main__":
    run()
