"""What survives: the database or the bus going away under a chat, and a slow consumer.

Each test runs its own Redis or PostgreSQL on a free port, so stopping it never
touches the machine's shared services (figures under load: docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import uuid

import pytest
from sqlalchemy import func, select

from chat.migrate import upgrade
from chat.models import ChatMessage
from tests.faults.services import own_postgres, own_redis
from tests.support import start_desk

pytestmark = pytest.mark.slow


async def test_a_postgres_restart_gives_clear_errors_then_recovers_without_loss() -> None:
    async with own_postgres() as pg:
        await asyncio.to_thread(upgrade, pg.url)
        async with start_desk(pg.url, None, f"pg-{uuid.uuid4().hex[:8]}") as desk:
            bea = await desk.agent("Bea")
            ana = await desk.customer()
            await bea.take(ana)
            await ana.say("before the outage")

            await asyncio.to_thread(pg.stop)
            await ana.send({"type": "message", "client_id": "during", "body": "are you there?"})
            error = await ana.expect("error", timeout=20)
            assert error["code"] == "database_unavailable" and error["ref"] == "during"
            confirmed = [f for f in ana.frames if f["type"] in ("ack", "message")]
            assert not [f for f in confirmed if f.get("client_id") == "during"]

            await asyncio.to_thread(pg.start)
            frame = None
            async with asyncio.timeout(30):  # the pool reconnects by itself
                while True:
                    await ana.send(
                        {"type": "message", "client_id": "during", "body": "are you there?"}
                    )
                    try:
                        frame = await ana.stored("during", timeout=3)
                        break
                    except TimeoutError:
                        continue
            assert frame is not None
            await bea.expect("message", lambda f: f["body"] == "are you there?")
            async with desk.runtime.sessions() as session:
                stored = await session.scalar(
                    select(func.count()).where(ChatMessage.body == "are you there?")
                )
            assert stored == 1


async def test_a_redis_restart_leaves_a_gap_that_is_filled_from_the_database(
    backend_sqlite_path: str,
) -> None:
    async with own_redis() as redis:
        async with start_desk(backend_sqlite_path, redis.url, f"rd-{uuid.uuid4().hex[:8]}") as desk:
            bea = await desk.agent("Bea")
            ana = await desk.customer()
            chat = await bea.take(ana)
            await bea.say(chat["id"], "one")
            await ana.message("one")

            redis.stop()
            lost = await bea.say(chat["id"], "said while the bus was down")  # stored, acked
            redis.start()
            async with asyncio.timeout(20):
                while not desk.runtime.bus.healthy:
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the hub's channels are subscribed again
            after = await bea.say(chat["id"], "after the restart")
            arrived = await ana.message("after the restart")
            assert arrived["seq"] == after["seq"] == lost["seq"] + 1
            # The client saw seq jump past what it had: it asks for the gap.
            await ana.send({"type": "fetch", "after_seq": lost["seq"] - 1})
            filled = await ana.expect("message", lambda f: f["seq"] == lost["seq"])
            assert filled["body"] == "said while the bus was down"


async def test_a_client_that_stops_reading_is_disconnected_and_memory_stays_bounded(
    backend_sqlite_path: str,
) -> None:
    async with start_desk(
        backend_sqlite_path,
        None,
        f"slow-{uuid.uuid4().hex[:8]}",
        send_queue_limit=200,
        rate_messages_per_second=100_000,
        rate_burst=100_000,
        rate_chat_messages_per_minute=1_000_000,
    ) as desk:
        bea = await desk.agent("Bea")
        ana = await desk.customer()
        chat = await bea.take(ana)
        assert ana.ws is not None
        # The customer's browser tab freezes (and its small receive window fills quickly).
        sock = ana.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ana.ws.transport.pause_reading()
        # Random text: permessage-deflate would shrink repetitive text to nothing.
        bodies = [secrets.token_urlsafe(3600) for _ in range(50)]
        acked = -1
        ack_seen = asyncio.Event()
        assert bea.ws is not None

        async def agent_reads() -> None:  # the agent's console keeps up, the customer doesn't
            nonlocal acked
            assert bea.ws is not None
            async for raw in bea.ws:
                frame = json.loads(raw)
                # Bea's own line comes back as its echo (or, were it a resend, an ack).
                mine = frame.get("type") == "ack" or (
                    frame.get("type") == "message" and frame.get("sender") == "agent"
                )
                if mine and str(frame.get("client_id")).startswith("b"):
                    acked = max(acked, int(frame["client_id"][1:]))
                    ack_seen.set()

        async def acked_up_to(n: int) -> None:
            while acked < n:
                ack_seen.clear()
                await ack_seen.wait()

        reader = asyncio.create_task(agent_reads())
        try:
            for n in range(2000):  # ~10 MB: more than the kernel's socket buffers hold
                await bea.ws.send(
                    json.dumps(
                        {
                            "type": "message",
                            "chat_id": chat["id"],
                            "client_id": f"b{n}",
                            "body": f"{n} {bodies[n % 50]}",
                        }
                    )
                )
                # In steps of 50, so one group commit's echoes never outgrow the agent's
                # own queue of 200: the agent is fast,
                # not a slow consumer; only the customer stops reading.
                if n % 50 == 49:
                    await asyncio.wait_for(acked_up_to(n), 60)
        finally:
            reader.cancel()
        hub = desk.runtime.hub
        customers = [c for c in hub.widgets if c.customer_id is not None]
        async with asyncio.timeout(10):
            while customers and not customers[0].closed:
                await asyncio.sleep(0.05)
        assert customers[0].close_code == 4408
        assert customers[0]._queue.qsize() <= 201  # bounded: never the 2,000 messages
        ana.ws.transport.resume_reading()
        ana.drop()
        welcome = await ana.connect()  # and it resumes from the transcript
        assert welcome["chat"]["last_seq"] >= 2002


@pytest.fixture
def backend_sqlite_path(tmp_path: object, sqlite_template: object) -> str:
    import shutil
    from pathlib import Path

    assert isinstance(tmp_path, Path) and isinstance(sqlite_template, Path)
    path = tmp_path / "faults.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"
