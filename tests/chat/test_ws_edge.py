"""The socket edge's shortcuts (chat/ws_protocol.py): a read-ahead of a few frames
instead of a pause after each, text written at once when the socket can take it,
without losing the order of a connection's frames or its back-pressure, and a message
that many sockets get deflated once.

Frames are also taken without ASGI's coroutines: at once when one waits, else through
one future.

The protocol runs here on a transport that records what is done to it, with websockets'
own client protocol on the other end (tests/recording_socket.py), so each step is seen
as the socket would see it.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import pytest
from starlette.websockets import WebSocketState
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from chat.ws_protocol import (
    PLAIN_BELOW_BYTES,
    READ_AHEAD_FRAMES,
    RECEIVE_NOW,
    SEND_TEXT_NOW,
    SmallFramesPlain,
)
from tests.recording_socket import Socket, client_on_socket, settle


async def test_reading_pauses_only_when_the_app_is_a_read_ahead_behind() -> None:
    taken: list[str] = []
    go = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await go.wait()
        while len(taken) < READ_AHEAD_FRAMES + 1:
            taken.append((await receive())["text"])

    socket = Socket(app)
    await settle()
    assert socket.frames_from_server() == ["<response 101>"]
    for n in range(READ_AHEAD_FRAMES - 1):
        socket.send_from_client(f"frame {n}")
    assert socket.transport.pauses == 0  # uvicorn's own protocol had paused 15 times by now
    socket.send_from_client(f"frame {READ_AHEAD_FRAMES - 1}")
    assert socket.transport.pauses == 1  # the app is a read-ahead behind: stop reading
    go.set()
    await settle()
    assert socket.transport.resumes == 1  # all taken: read again
    socket.send_from_client("one more")
    await settle()
    assert taken == [f"frame {n}" for n in range(READ_AHEAD_FRAMES)] + ["one more"]
    assert socket.transport.pauses == 1


async def test_the_next_frame_is_taken_at_once_or_through_one_future() -> None:
    closing = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await closing.wait()  # the test takes the frames, as the frame loop would

    socket = Socket(app)
    await settle()
    socket.frames_from_server()
    receive_now = socket.server.scope["extensions"][RECEIVE_NOW]

    socket.send_from_client("a")
    socket.send_from_client("b")
    assert receive_now() == {"type": "websocket.receive", "text": "a"}  # waiting: at once
    assert receive_now() == {"type": "websocket.receive", "text": "b"}
    waiter = receive_now()  # nothing waits: a future the next frame resolves
    assert isinstance(waiter, asyncio.Future) and not waiter.done()
    socket.send_from_client("c")
    assert waiter.done() and waiter.result() == {"type": "websocket.receive", "text": "c"}

    # A reader that stopped waiting (its task cancelled: the idle deadline) loses nothing.
    gone = receive_now()
    gone.cancel()
    socket.send_from_client("d")
    assert receive_now() == {"type": "websocket.receive", "text": "d"}

    # The read-ahead holds as for ASGI's receive: paused a read-ahead behind, read again
    # once every frame is taken.
    for n in range(READ_AHEAD_FRAMES):
        socket.send_from_client(f"frame {n}")
    assert socket.transport.pauses == 1
    taken = [receive_now()["text"] for _ in range(READ_AHEAD_FRAMES)]
    assert taken == [f"frame {n}" for n in range(READ_AHEAD_FRAMES)]
    assert socket.transport.resumes == 1

    waiter = receive_now()
    socket.server.connection_lost(None)  # the peer went away while the app waited
    assert waiter.result()["type"] == "websocket.disconnect"
    closing.set()
    await settle()


async def test_an_open_socket_keeps_nothing_of_its_handshake() -> None:
    closing = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        assert socket.server.request is not None  # the app may still read it
        await send({"type": "websocket.accept"})
        await closing.wait()

    socket = Socket(app)
    await settle()
    assert socket.frames_from_server() == ["<response 101>"]
    assert socket.server.request is None and socket.server.response is None
    socket.send_from_client("still talking")
    assert socket.server.scope["extensions"][RECEIVE_NOW]()["text"] == "still talking"
    closing.set()
    await settle()


async def test_text_is_written_at_once_only_while_the_socket_can_take_it() -> None:
    closing = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await closing.wait()
        await send({"type": "websocket.close", "code": 1000})

    socket = Socket(app)
    send_now = socket.server.scope["extensions"][SEND_TEXT_NOW]
    assert send_now("too early") is False  # not accepted yet: the ASGI way refuses it
    await settle()
    socket.frames_from_server()
    assert send_now("hello") is True
    assert socket.frames_from_server() == ["hello"]
    socket.server.pause_writing()  # the peer reads slowly: the ASGI way waits
    assert send_now("held back") is False
    socket.server.resume_writing()
    assert send_now("again") is True
    assert socket.frames_from_server() == ["again"]
    with pytest.raises(UnicodeEncodeError):
        send_now("\ud800")  # as `send` would
    closing.set()
    await settle()
    assert send_now("after the close") is False
    assert socket.frames_from_server() == []


async def test_a_client_keeps_its_frames_in_order_across_a_paused_socket() -> None:
    socket, client, done = await client_on_socket(queue_limit=8)
    client.send_text("1")  # written at once
    assert socket.frames_from_server() == ["1"]
    socket.server.pause_writing()
    client.send_text("2")  # queued; the writer takes it and waits for the socket
    await settle()
    socket.server.resume_writing()
    client.send_text("3")  # the queue is empty and the socket writable, but "2" goes first
    await settle()
    client.send_text("4")
    assert socket.frames_from_server() == ["2", "3", "4"]

    # A peer that reads nothing fills the queue behind the paused socket: slow consumer.
    socket.server.pause_writing()
    for n in range(10):
        client.send_text(f"flood {n}")
        await settle()
    assert client.closed and client.close_code == 4408
    done.set()
    await settle()


def _writers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ws-writer-")]


async def test_a_writer_task_runs_only_while_frames_wait() -> None:
    """An idle socket keeps no writer task (chat/connection.py): most frames go out at
    once, and ten thousand idle sockets would each hold a task, its coroutines and a
    waiting future for nothing."""
    socket, client, done = await client_on_socket(queue_limit=8)
    assert _writers() == []
    client.send_text("1")  # written at once
    assert socket.frames_from_server() == ["1"] and _writers() == []
    socket.server.pause_writing()
    client.send_text("2")  # must wait: a writer takes it
    client.send_text("3")
    await settle()
    assert len(_writers()) == 1
    socket.server.resume_writing()
    await settle()
    assert socket.frames_from_server() == ["2", "3"]
    assert _writers() == []  # the queue is empty: the writer ended
    client.send_text("4")
    assert socket.frames_from_server() == ["4"]
    done.set()  # stop: the close is queued, a writer sends it and closes the socket
    for _ in range(20):
        await settle()
    assert client.websocket.application_state is WebSocketState.DISCONNECTED
    assert _writers() == []


def test_a_message_many_sockets_get_is_deflated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without context takeover a message deflates to the same bytes on every socket with
    the same settings: the desk's `desk_status`, sent to every widget, is deflated once.
    Every socket's frame still inflates to the message, and other settings or another
    message are deflated afresh."""
    windows: list[int] = []
    real = zlib.compressobj

    def counting(*args: Any, **kwargs: Any) -> Any:
        windows.append(kwargs["wbits"])
        return real(*args, **kwargs)

    monkeypatch.setattr(zlib, "compressobj", counting)
    monkeypatch.setattr(SmallFramesPlain, "_last_deflated", None)
    services = [{"id": n, "name": f"Service {n}", "open": True, "waiting": n} for n in range(9)]
    desk = json.dumps({"type": "desk_status", "services": services}).encode()
    assert len(desk) >= PLAIN_BELOW_BYTES

    def socket(window: int) -> SmallFramesPlain:  # as SmallFramesPlainFactory makes them
        return SmallFramesPlain(True, True, 12, window, {"memLevel": 5})

    def inflated(frame: Frame, window: int) -> bytes:
        assert frame.rsv1  # marked compressed
        return bytes(PerMessageDeflate(True, True, window, 12).decode(frame).data)

    sockets = [socket(12) for _ in range(3)] + [socket(10)]  # a client asked for 2^10
    frames = [s.encode(Frame(Opcode.TEXT, desk)) for s in sockets]
    assert windows == [-12, -10]
    assert frames[0].data == frames[1].data == frames[2].data  # the same bytes, deflated once
    assert [inflated(f, w) for f, w in zip(frames, [12, 12, 12, 10], strict=True)] == [desk] * 4

    changed = desk.replace(b'"waiting": 8', b'"waiting": 7')
    again = sockets[0].encode(Frame(Opcode.TEXT, changed))
    assert windows == [-12, -10, -12]
    assert inflated(again, 12) == changed
    short = sockets[1].encode(Frame(Opcode.TEXT, b'{"type":"pong"}'))
    assert (short.data, short.rsv1) == (b'{"type":"pong"}', False)  # small frames go plain
