"""Dead and silent sockets are closed by the server; clients that keep alive stay.

There are no websocket-level pings (chat/ws_protocol.py): clients send `ping` every
25 s (docs/protocol.md, "Keep-alive") and a socket that sends nothing for
`WS_IDLE_SECONDS` is closed with 4000. A connection whose peer vanished without a
FIN sends nothing either, so the same rule frees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import ConnectionClosed

from chat.deadline import QuietDeadline
from chat.protocol import WS_4000_IDLE
from tests.conftest import Backend
from tests.support import LiveDesk, start_desk

IDLE_SECONDS = 0.6


@pytest.fixture
async def quick_desk(backend: Backend, bus_prefix: str) -> AsyncIterator[LiveDesk]:
    async with start_desk(
        backend.database_url, backend.redis_url, bus_prefix, ws_idle_seconds=IDLE_SECONDS
    ) as desk:
        yield desk


async def _closed_code(ws: object) -> int | None:
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()  # type: ignore[attr-defined]
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_a_silent_widget_and_console_are_closed_with_4000(quick_desk: LiveDesk) -> None:
    bea = await quick_desk.agent("Bea")
    ana = await quick_desk.customer()
    await ana.start_chat()
    await bea.next_offer()
    assert await _closed_code(ana.ws) == WS_4000_IDLE
    assert await _closed_code(bea.ws) == WS_4000_IDLE


async def test_a_client_that_pings_is_never_closed(quick_desk: LiveDesk) -> None:
    ana = await quick_desk.customer()
    for _ in range(5):  # well past the idle limit in all, never past it between pings
        await asyncio.sleep(IDLE_SECONDS / 3)
        await ana.send({"type": "ping"})
        await ana.expect("pong")
    # Alive well past one idle limit: the desk still answers, and nothing closed it.
    await ana.send(
        {
            "type": "leave_message",
            "name": "Ana",
            "email": "ana@example.com",
            "message": "Still here after a while",
            "service_id": 1,
        }
    )
    await ana.expect("ticket_created")


async def test_the_idle_deadline_counts_only_time_spent_waiting_for_a_frame() -> None:
    """One timer per socket (chat/ws_common.py): frames only note the time; a long-running
    handler is not silence; waiting past the deadline cancels the loop as a timeout would."""
    expired: list[bool] = []

    async def frame_loop() -> None:
        idle = QuietDeadline(0.2)
        try:
            for _ in range(3):  # frames 0.1 s apart: never silent for 0.2 s
                idle.waiting()
                await asyncio.sleep(0.1)
                idle.heard()
            await asyncio.sleep(0.35)  # handling one frame for longer than the deadline
            idle.waiting()
            await asyncio.sleep(10)  # then silence
        except asyncio.CancelledError:
            expired.append(idle.expired)
            raise
        finally:
            idle.cancel()

    task = asyncio.create_task(frame_loop())
    started = asyncio.get_running_loop().time()
    with pytest.raises(asyncio.CancelledError):
        await task
    took = asyncio.get_running_loop().time() - started
    assert expired == [True]
    assert 0.3 + 0.35 + 0.2 <= took < 2
